#!/usr/bin/env node
// Runs the compiled CLI from dist/. In a source checkout (src/ present, npm ci runs no install
// scripts here: see .npmrc), dist/ is compiled on first use and again whenever a file in src/ is
// newer than the last build, so `npm ci && npx graft …` works and stays current after a pull.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stamp = path.join(root, 'dist', 'cli', 'main.js');

function newestSource(dir) {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestSource(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

if (fs.existsSync(path.join(root, 'src')) && fs.existsSync(path.join(root, 'tsconfig.json'))) {
  const built = fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : 0;
  if (!built || newestSource(path.join(root, 'src')) > built) {
    let tsc;
    try {
      tsc = path.join(path.dirname(fileURLToPath(import.meta.resolve('typescript/package.json'))), 'bin', 'tsc');
    } catch {
      process.stderr.write(`graft: ${path.join(root, 'dist')} is missing or older than src/ and typescript is not installed: run npm ci (or npm run build)\n`);
      process.exit(1);
    }
    process.stderr.write('graft: compiling src/ → dist/ (once after install or a change) …\n');
    const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
}
process.env.GRAFT_CLI_MAIN = '1';
await import('../dist/cli/main.js');
