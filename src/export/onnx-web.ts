/**
 * `--web`: a self-contained folder that runs an exported ONNX classifier in a browser — the model,
 * the example page (web-page.ts) and onnxruntime-web's wasm runtime copied from its npm package.
 * Serve the folder with any static server (`npx http-server DIR`, `python3 -m http.server`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { BundleMeta } from '../bundle/bundle.js';
import { writeDirAtomic } from '../util/fs.js';
import { INDEX_HTML, PAGE_CONFIG, PAGE_JS } from './web-page.js';

/** The onnxruntime-web files the page loads (UMD build + its wasm loader and binary). */
export const ORT_WEB_FILES = ['ort.wasm.min.js', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];

/** The installed root folder of npm package `name` (its package.json need not be exported). */
export function packageRoot(name: string, hint: string): string {
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = path.dirname(require.resolve(name));
  } catch {
    throw new Error(`${hint} needs the npm package ${name} (npm install ${name})`);
  }
  while (!fs.existsSync(path.join(dir, 'package.json')) || (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string }).name !== name) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`${name}: cannot find its package folder`);
    dir = up;
  }
  return dir;
}

const ortWebDist = () => path.join(packageRoot('onnxruntime-web', '--web'), 'dist');

export interface WebExample {
  dir: string;
  files: string[];
  ortWebVersion: string;
}

/** Write the example folder `dir` for `onnx` (its input/output names given), atomically. */
export async function writeOnnxWeb(dir: string, onnx: Uint8Array, meta: BundleMeta, io: { input: string; output: string }): Promise<WebExample> {
  const dist = ortWebDist();
  const version = (JSON.parse(fs.readFileSync(path.join(dist, '..', 'package.json'), 'utf8')) as { version: string }).version;
  for (const f of ORT_WEB_FILES) if (!fs.existsSync(path.join(dist, f))) throw new Error(`onnxruntime-web ${version}: ${f} is missing from ${dist}`);
  const config = { model: 'model.onnx', input: io.input, output: io.output, labels: meta.labels, preprocess: meta.preprocess, backbone: meta.backbone.name, ortWeb: version };
  await writeDirAtomic(dir, (tmp) => {
    fs.writeFileSync(path.join(tmp, 'model.onnx'), onnx);
    fs.writeFileSync(path.join(tmp, PAGE_CONFIG), JSON.stringify(config, null, 2) + '\n');
    fs.writeFileSync(path.join(tmp, 'index.html'), INDEX_HTML);
    fs.writeFileSync(path.join(tmp, 'graft-onnx.js'), PAGE_JS);
    fs.mkdirSync(path.join(tmp, 'ort'));
    for (const f of ORT_WEB_FILES) fs.copyFileSync(path.join(dist, f), path.join(tmp, 'ort', f));
  });
  return { dir, files: ['index.html', 'graft-onnx.js', PAGE_CONFIG, 'model.onnx', ...ORT_WEB_FILES.map((f) => `ort/${f}`)], ortWebVersion: version };
}

/** Default folder for `--onnx FILE --web`: FILE's name without .onnx, plus `-web`, beside it. */
export function defaultWebDir(onnxFile: string): string {
  return path.join(path.dirname(onnxFile), `${path.basename(onnxFile).replace(/\.onnx$/i, '')}-web`);
}
