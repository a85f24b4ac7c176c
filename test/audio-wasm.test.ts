/** The WebAssembly SIMD audio kernels (src/audio/wasm): committed bytes match the source; each kernel against its float64 JS reference. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { resample, resampleReference } from '../src/audio/resample.js';
import { frontendKey, audioFrontend, FRONTEND_VERSION } from '../src/audio/frontend.js';

const noise = (n: number, seed: number): Float32Array => {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2147483648), s / 2147483648 - 0.5));
};

test('kernels.wasm.ts is what kernels.wat compiles to (npm run build:wasm)', () => {
  const r = spawnSync(process.execPath, [path.join(import.meta.dirname, '..', 'scripts', 'build-wasm.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('SIMD polyphase resampler equals the float64 JS one within float32 rounding, edges and every phase included', () => {
  const x = noise(22050, 3);
  // 22050→16000: 72 taps (a multiple of 4); 44100→16000 and 17600→16000: rows padded with zero taps; up-sampling; tiny inputs.
  for (const [from, to, n] of [[22050, 16000, 22050], [44100, 16000, 22050], [17600, 16000, 22050], [8000, 22050, 8000], [22050, 16000, 5], [22050, 16000, 1], [16000, 22050, 37]] as const) {
    const a = resample(x.subarray(0, n), from, to);
    const b = resampleReference(x.subarray(0, n), from, to);
    assert.equal(a.length, b.length);
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
    assert.ok(d < 1e-6, `${from}→${to}, ${n} samples: max difference ${d}`);
    assert.ok(a.every(Number.isFinite));
  }
  // A second design in between must not disturb the first one's resident table.
  const first = resample(x, 22050, 16000);
  resample(x, 44100, 16000);
  assert.deepEqual(resample(x, 22050, 16000), first);
  // Larger than any earlier call: memory grows, results still right.
  const long = noise(200000, 5);
  const a = resample(long, 48000, 16000);
  const b = resampleReference(long, 48000, 16000);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  assert.ok(d < 1e-6, `48000→16000, 200000 samples: ${d}`);
  assert.throws(() => resample(x, 0, 16000), /positive integers/);
  assert.throws(() => resample(x, 22050.5, 16000), /positive integers/);
});

test('the feature-store key names the front-end implementation', () => {
  assert.match(frontendKey(audioFrontend({})), new RegExp(`"v${FRONTEND_VERSION}"`));
});
