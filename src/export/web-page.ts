/**
 * The example page written by `graft export --onnx FILE --web`: index.html + graft-onnx.js run
 * the exported ONNX classifier in the browser with onnxruntime-web (wasm, one thread, so no
 * cross-origin isolation is needed), its runtime files copied from the npm package into `ort/`
 * (nothing from a CDN). The script resizes a picked image the bundle's way (squash, or centre crop
 * at its crop fraction) on a canvas, normalises it, runs the model and lists the top classes; it
 * also exposes `window.graft` (ready, labels, predictPixels, predictImage) for pages and tests.
 */

export const PAGE_CONFIG = 'graft-model.json';

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>graft · ONNX classifier in the browser</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.3rem; margin-bottom: .2rem; }
  .sub { color: #666; margin-top: 0; }
  #drop { border: 2px dashed #aaa; border-radius: 8px; padding: 1.2rem; text-align: center; margin: 1rem 0; }
  #drop.over { border-color: #2a6; background: #f2fbf5; }
  .row { display: flex; gap: 1.2rem; align-items: flex-start; }
  canvas { border: 1px solid #ddd; width: 160px; height: 160px; image-rendering: pixelated; }
  table { border-collapse: collapse; flex: 1; }
  td { padding: .15rem .4rem; }
  td.bar { width: 60%; }
  .bar span { display: block; height: .8rem; background: #2a6; border-radius: 3px; }
  #status { color: #666; font-size: .9rem; }
</style>
</head>
<body>
<h1>graft classifier</h1>
<p class="sub" id="info">loading the model…</p>
<div id="drop"><label>Pick or drop an image: <input type="file" id="file" accept="image/*"></label></div>
<div class="row">
  <canvas id="view" width="224" height="224"></canvas>
  <table id="result"><tbody></tbody></table>
</div>
<p id="status"></p>
<script src="ort/ort.wasm.min.js"></script>
<script type="module" src="graft-onnx.js"></script>
</body>
</html>
`;

export const PAGE_JS = `// Runs the graft-exported ONNX classifier with onnxruntime-web (wasm). Config: ${PAGE_CONFIG}.
const cfg = await (await fetch('${PAGE_CONFIG}')).json();
const { labels, preprocess: pre } = cfg;
const [H, W] = pre.size;
ort.env.wasm.wasmPaths = new URL('ort/', location.href).href;
ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error'; // wasm's early warnings (e.g. an unknown CPU vendor in a VM) are not the user's business
const session = await ort.InferenceSession.create(cfg.model, { executionProviders: ['wasm'] });

/** Per-channel out = px * scale - offset, as graft normalises (src/data/decode.ts normalizeRgb). */
const scale = pre.std.map((s) => 1 / (255 * s));
const offset = pre.mean.map((m, c) => m / pre.std[c]);

/** n images of uint8 RGB, H*W*3 each → probabilities, n rows of labels.length. */
async function predictPixels(rgb, n) {
  const x = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) for (let c = 0; c < 3; c++) x[i + c] = rgb[i + c] * scale[c] - offset[c];
  const feeds = { [cfg.input]: new ort.Tensor('float32', x, [n, H, W, 3]) };
  const out = await session.run(feeds);
  const p = out[cfg.output].data;
  const rows = [];
  for (let i = 0; i < n; i++) rows.push(Array.from(p.subarray(i * labels.length, (i + 1) * labels.length)));
  return rows;
}

/** Draw an image at the network's input size the bundle's way; its RGB bytes. */
function imagePixels(img, canvas = document.getElementById('view')) {
  canvas.width = W;
  canvas.height = H;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  g.fillStyle = '#fff'; // transparent pixels on white, as graft flattens them
  g.fillRect(0, 0, W, H);
  const iw = img.naturalWidth || img.width, ih = img.naturalHeight || img.height;
  if (pre.resize === 'center-crop') {
    const cf = pre.cropFraction ?? 0.875;
    const rw = Math.max(W, Math.round(W / cf)), rh = Math.max(H, Math.round(H / cf));
    const s = Math.max(rw / iw, rh / ih);
    const sx = ((iw * s - rw) / 2 + Math.floor((rw - W) / 2)) / s, sy = ((ih * s - rh) / 2 + Math.floor((rh - H) / 2)) / s;
    g.drawImage(img, sx, sy, W / s, H / s, 0, 0, W, H);
  } else {
    g.drawImage(img, 0, 0, W, H);
  }
  const rgba = g.getImageData(0, 0, W, H).data;
  const rgb = new Uint8Array(W * H * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) { rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2]; }
  return rgb;
}

async function predictImage(img) {
  const [p] = await predictPixels(imagePixels(img), 1);
  return labels.map((label, i) => ({ label, probability: p[i] })).sort((a, b) => b.probability - a.probability);
}

function show(top) {
  const body = document.querySelector('#result tbody');
  body.innerHTML = '';
  for (const { label, probability } of top.slice(0, 5)) {
    const tr = document.createElement('tr');
    tr.innerHTML = '<td class="label"></td><td class="bar"><span></span></td><td class="p"></td>';
    tr.querySelector('.label').textContent = label;
    tr.querySelector('.bar span').style.width = (100 * probability).toFixed(1) + '%';
    tr.querySelector('.p').textContent = (100 * probability).toFixed(1) + '%';
    body.appendChild(tr);
  }
}

async function classifyFile(file) {
  const img = new Image();
  img.src = URL.createObjectURL(file);
  await img.decode();
  const t0 = performance.now();
  const top = await predictImage(img);
  document.getElementById('status').textContent = file.name + ': ' + (performance.now() - t0).toFixed(0) + ' ms in onnxruntime-web ' + ort.env.versions.web + ' (wasm)';
  show(top);
  URL.revokeObjectURL(img.src);
}

document.getElementById('file').addEventListener('change', (e) => e.target.files[0] && classifyFile(e.target.files[0]));
const drop = document.getElementById('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); if (e.dataTransfer.files[0]) classifyFile(e.dataTransfer.files[0]); });
document.getElementById('info').textContent = labels.length + ' classes (' + labels.slice(0, 6).join(', ') + (labels.length > 6 ? ', …' : '') + '), input ' + W + '×' + H + ' (' + pre.resize + '), backbone ' + cfg.backbone;
window.graft = { ready: true, labels, predictPixels, predictImage, classifyFile };
`;
