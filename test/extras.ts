/**
 * Debian extras some tests need (PyTorch for parity, Chromium for pages, …). On a machine with only
 * Node, a test that needs a missing extra is skipped with one line naming the apt package; with
 * GRAFT_REQUIRE_EXTRAS=1 (set by .ci/run, which installs them all) a missing extra fails the test
 * instead, so CI can never go green by skipping.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

export const PYTHON = process.env.GRAFT_PYTHON ?? '/usr/bin/python3';
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export type Extra = 'torch' | 'torchvision' | 'torchaudio' | 'chromium' | 'espeak-ng' | 'redis-server' | 'sox' | 'sox-mp3' | 'opusenc';

/** The Debian package that provides each extra, and how to tell it is there. */
const EXTRAS: Record<Extra, { apt: string; probe: () => boolean }> = {
  torch: { apt: 'python3-torch python3-numpy', probe: () => python('import torch') },
  torchvision: { apt: 'python3-torchvision', probe: () => python('import torch, torchvision') },
  torchaudio: { apt: 'python3-torchaudio', probe: () => python('import torchaudio') },
  chromium: { apt: 'chromium', probe: () => fs.existsSync(CHROMIUM) },
  'espeak-ng': { apt: 'espeak-ng', probe: () => onPath('espeak-ng') },
  'redis-server': { apt: 'redis-server', probe: () => onPath('redis-server') },
  sox: { apt: 'sox', probe: () => onPath('sox') },
  'sox-mp3': { apt: 'sox libsox-fmt-mp3', probe: () => onPath('sox') && / mp3 /.test(spawnSync('sox', ['-h'], { encoding: 'utf8' }).stdout ?? '') },
  opusenc: { apt: 'opus-tools', probe: () => onPath('opusenc') },
};

const seen = new Map<Extra, boolean>();

function python(code: string): boolean {
  if (!fs.existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ['-c', code], { stdio: 'ignore', timeout: 120_000 }).status === 0;
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export const extrasRequired = (): boolean => process.env.GRAFT_REQUIRE_EXTRAS === '1';

export function hasExtra(name: Extra): boolean {
  let ok = seen.get(name);
  if (ok === undefined) {
    ok = EXTRAS[name].probe();
    seen.set(name, ok);
  }
  return ok;
}

/** One line: what is missing and the apt command that installs it. */
export function missingLine(names: Extra[]): string {
  const pkgs = [...new Set(names.flatMap((n) => EXTRAS[n].apt.split(' ')))].join(' ');
  return `needs Debian's ${names.join(' + ')}: sudo apt-get install -y --no-install-recommends ${pkgs}`;
}

/**
 * The `skip` option for a test or suite that needs these extras: false when all are present (or
 * when GRAFT_REQUIRE_EXTRAS=1: then the test runs and fails on what is missing), else the reason.
 */
export function skipUnless(...names: Extra[]): string | false {
  const missing = names.filter((n) => !hasExtra(n));
  if (!missing.length || extrasRequired()) return false;
  return missingLine(missing);
}

/** Throws the one-line reason when an extra is missing (for GRAFT_REQUIRE_EXTRAS=1 runs). */
export function assertExtras(...names: Extra[]): void {
  const missing = names.filter((n) => !hasExtra(n));
  if (missing.length) throw new Error(missingLine(missing));
}

export const ALL_EXTRAS = Object.keys(EXTRAS) as Extra[];
