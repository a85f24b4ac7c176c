// In-browser inference: the model's ONNX export in onnxruntime-web (wasm, one thread), fed the
// same preprocessing the bundle records (size, squash or centre crop, mean/std), NHWC float32.
let ortPromise;
const sessions = new Map();

async function ort() {
  ortPromise ??= import('/vendor/ort/ort.wasm.min.mjs').then((m) => {
    m.env.wasm.wasmPaths = '/vendor/ort/';
    m.env.wasm.numThreads = 1;
    m.env.logLevel = 'error'; // its CPU-detection warning is not an error of the page
    return m;
  });
  return ortPromise;
}

/** A session for the model's ONNX bytes (cached by key). */
export async function session(key, loadBytes) {
  if (!sessions.has(key)) {
    sessions.set(key, (async () => {
      const o = await ort();
      return o.InferenceSession.create(new Uint8Array(await loadBytes()), { executionProviders: ['wasm'], logSeverityLevel: 3 });
    })());
  }
  return sessions.get(key);
}

/** Draw an image into the canvas as the bundle preprocesses it; returns float32 NHWC (H*W*3). */
export function preprocess(img, canvas, pre) {
  const [h, w] = pre.size;
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.fillStyle = '#fff'; // transparent pixels flattened onto white, as graft does
  ctx.fillRect(0, 0, w, h);
  const iw = img.naturalWidth ?? img.videoWidth ?? img.width;
  const ih = img.naturalHeight ?? img.videoHeight ?? img.height;
  if (pre.resize === 'center-crop') {
    const cf = pre.cropFraction ?? 0.875;
    const scale = Math.max(w / cf / iw, h / cf / ih);
    const sw = w / scale, sh = h / scale;
    ctx.drawImage(img, (iw - sw) / 2, (ih - sh) / 2, sw, sh, 0, 0, w, h);
  } else ctx.drawImage(img, 0, 0, iw, ih, 0, 0, w, h);
  const px = ctx.getImageData(0, 0, w, h).data;
  const out = new Float32Array(h * w * 3);
  for (let i = 0, j = 0; i < px.length; i += 4, j += 3) {
    for (let c = 0; c < 3; c++) out[j + c] = (px[i + c] / 255 - pre.mean[c]) / pre.std[c];
  }
  return out;
}

/** Probabilities for one preprocessed image. */
export async function runLocal(sess, x, pre) {
  const o = await ort();
  const [h, w] = pre.size;
  const feeds = { [sess.inputNames[0]]: new o.Tensor('float32', x, [1, h, w, 3]) };
  const out = await sess.run(feeds);
  return Array.from(out[sess.outputNames[0]].data);
}
