// The real client, with nothing of graft: plain @tensorflow/tfjs + @tensorflow/tfjs-backend-wasm in
// Node (CommonJS, as most Node services load them). Usage: node tfjs-node.cjs MODEL_URL PIXELS_FILE N
// PIXELS_FILE holds N images of uint8 RGB at the model's input size; prints one JSON object
// { probabilities: number[][], metadata, inputShape } on stdout.
const fs = require('node:fs');
const path = require('node:path');
const tf = require('@tensorflow/tfjs');
// The wasm backend (its npm package), as a Node service without tfjs-node would pick for speed.
const wasm = require('@tensorflow/tfjs-backend-wasm');

async function main() {
  const [url, pixelsFile, nArg] = process.argv.slice(2);
  wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise');
  const model = await tf.loadLayersModel(url);
  const [, h, w, c] = model.inputs[0].shape;
  const n = Number(nArg);
  const px = fs.readFileSync(pixelsFile);
  if (px.length !== n * h * w * c) throw new Error(`pixels: expected ${n * h * w * c} bytes, got ${px.length}`);
  const x = tf.tensor4d(Float32Array.from(px), [n, h, w, c]);
  const y = model.predict(x);
  const probabilities = await y.array();
  process.stdout.write(JSON.stringify({ probabilities, metadata: model.getUserDefinedMetadata(), inputShape: model.inputs[0].shape, backend: tf.getBackend() }) + '\n');
}
main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
