// graft's web app: collect images per class, train a model as a server job (live curves over
// SSE), see its evaluation, try it on the server and in the browser (ONNX via onnxruntime-web),
// download the bundle and the ONNX file. Plain ES modules, no build step.
import { api, ApiError, followJob, saveAs, setToken, token } from './api.js';
import { lineChart } from './chart.js';
import { preprocess, runLocal, session } from './infer.js';

const $ = (id) => document.getElementById(id);
const state = { classes: new Map(), job: null, epochs: [], model: null, abort: null };

function notice(msg) {
  $('notice').textContent = msg ?? '';
}
function fail(e) {
  if (e instanceof ApiError && e.status === 401) document.querySelector('.token').hidden = false;
  notice(e instanceof Error ? e.message : String(e));
}
const guard = (f) => (...a) => Promise.resolve(f(...a)).catch(fail);

// ---- tabs --------------------------------------------------------------------------------------
function showTab() {
  const tab = (location.hash || '#project').slice(1);
  for (const s of document.querySelectorAll('[data-page]')) s.hidden = s.dataset.page !== tab;
  for (const a of document.querySelectorAll('[data-tab]')) a.classList.toggle('active', a.dataset.tab === tab);
  if (tab === 'try') void refreshModels().catch(fail);
}

// ---- images per class --------------------------------------------------------------------------
function addClass(name) {
  name = name.trim();
  if (!name || state.classes.has(name)) return;
  if (name.startsWith('.') || /[\\/]/.test(name)) return notice(`class name "${name}": no slashes or leading dot`);
  state.classes.set(name, []);
  renderClasses();
}

function addImages(name, files) {
  const list = state.classes.get(name);
  for (const f of files) if (f.type.startsWith('image/') || /\.(png|jpe?g|gif|webp|bmp|tiff?)$/i.test(f.name)) list.push(f);
  renderClasses();
}

function renderClasses() {
  const box = $('classes');
  box.replaceChildren();
  for (const [name, files] of state.classes) {
    const card = document.createElement('div');
    card.className = 'class';
    card.dataset.class = name;
    card.innerHTML = `<header><span class="name"></span><span class="count">${files.length} image${files.length === 1 ? '' : 's'}</span></header>
      <div class="actions"><label class="file"><input type="file" accept="image/*" multiple hidden><button type="button" class="secondary pick">Add files</button></label>
      <button type="button" class="secondary snap">Capture</button><button type="button" class="secondary remove">Remove</button></div><div class="thumbs"></div>`;
    card.querySelector('.name').textContent = name;
    const input = card.querySelector('input');
    card.querySelector('.pick').onclick = () => input.click();
    input.onchange = () => addImages(name, input.files);
    card.querySelector('.snap').onclick = guard(async () => addImages(name, [await webcamFrame(`${name}-${Date.now()}.png`)]));
    card.querySelector('.remove').onclick = () => (state.classes.delete(name), renderClasses());
    card.ondragover = (e) => (e.preventDefault(), card.classList.add('over'));
    card.ondragleave = () => card.classList.remove('over');
    card.ondrop = (e) => {
      e.preventDefault();
      card.classList.remove('over');
      addImages(name, e.dataTransfer.files);
    };
    const thumbs = card.querySelector('.thumbs');
    for (const f of files.slice(-24)) {
      const img = document.createElement('img');
      img.src = URL.createObjectURL(f);
      img.alt = f.name;
      thumbs.append(img);
    }
    box.append(card);
  }
  const ready = [...state.classes.values()].filter((f) => f.length > 0).length >= 2;
  $('train-button').disabled = !ready || !!state.abort;
}

// ---- webcam ------------------------------------------------------------------------------------
async function toggleWebcam() {
  const v = $('webcam');
  if (v.srcObject) {
    v.srcObject.getTracks().forEach((t) => t.stop());
    v.srcObject = null;
    v.hidden = true;
    return;
  }
  v.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
  v.hidden = false;
}

async function webcamFrame(name) {
  const v = $('webcam');
  if (!v.srcObject) await toggleWebcam();
  await new Promise((r) => (v.readyState >= 2 ? r() : (v.onloadeddata = r)));
  const c = document.createElement('canvas');
  c.width = v.videoWidth;
  c.height = v.videoHeight;
  c.getContext('2d').drawImage(v, 0, 0);
  const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
  return new File([blob], name, { type: 'image/png' });
}

// ---- training ----------------------------------------------------------------------------------
function setStatus(text, st) {
  const p = $('train-status');
  p.textContent = text;
  p.dataset.state = st;
}

function drawCharts() {
  const e = state.epochs;
  lineChart($('chart-loss'), { train: e.map((x) => x.loss), val: e.map((x) => x.val_loss) });
  lineChart($('chart-acc'), { train: e.map((x) => x.accuracy), val: e.map((x) => x.val_accuracy) }, { fixed01: true });
}

async function train() {
  notice();
  const name = $('project-name').value.trim();
  const fd = new FormData();
  const options = { epochs: Number($('epochs').value) };
  if ($('backbone').value && $('backbone').value !== 'mobilenet_v2.nsfwjs') options.backbone = $('backbone').value;
  if ($('recipe').value === 'train') options.head = 'mlp';
  fd.append('spec', JSON.stringify({ name, recipe: $('recipe').value, options }));
  for (const [cls, files] of state.classes) for (const f of files) fd.append(cls, f, f.name);
  state.epochs = [];
  drawCharts();
  $('train-log').textContent = '';
  setStatus('uploading…', 'uploading');
  const t0 = performance.now();
  const job = await api('/v1/jobs', { method: 'POST', body: fd });
  state.job = job;
  state.abort = new AbortController();
  $('train-button').disabled = true;
  $('cancel-button').hidden = false;
  $('train-progress').hidden = false;
  let result = null;
  try {
    await followJob(job.id, (type, ev) => {
      if (type === 'epoch') {
        state.epochs.push(ev);
        drawCharts();
      } else if (type === 'progress') {
        $('train-progress').max = ev.total;
        $('train-progress').value = ev.done;
        setStatus(`${ev.label}: ${ev.done}/${ev.total}`, 'running');
      } else if (type === 'log') $('train-log').textContent += `${ev.message}\n`;
      else if (type === 'done') result = ev.result;
      else if (type === 'state' && ev.state === 'running') setStatus('training…', 'running');
      else if (type === 'state' && ev.state === 'failed') setStatus(`failed: ${ev.error}`, 'failed');
      else if (type === 'state' && ev.state === 'cancelled') setStatus('cancelled', 'cancelled');
    }, state.abort.signal);
  } finally {
    state.abort = null;
    $('cancel-button').hidden = true;
    $('train-progress').hidden = true;
    renderClasses();
  }
  if (!result) return;
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  setStatus(`done in ${secs} s: model "${name}" is served`, 'done');
  state.model = name;
  await showEvaluation(result);
}

// ---- evaluation --------------------------------------------------------------------------------
function table(el, head, rows) {
  el.replaceChildren();
  const tr = (cells, tag) => {
    const r = document.createElement('tr');
    for (const c of cells) {
      const d = document.createElement(tag);
      if (typeof c === 'object' && c) {
        d.textContent = c.text;
        if (c.cls) d.className = c.cls;
      } else d.textContent = String(c);
      r.append(d);
    }
    return r;
  };
  el.append(tr(head, 'th'), ...rows.map((r) => tr(r, 'td')));
}

async function showEvaluation(result) {
  const ev = result.test?.n ? result.test : result.val;
  const which = result.test?.n ? 'test' : 'validation';
  const labels = result.labels;
  if (!ev) {
    $('eval-summary').textContent = 'No held-out images to evaluate on (add more images).';
    return;
  }
  $('eval-summary').textContent = `${which} accuracy ${(100 * ev.accuracy).toFixed(1)}% on ${ev.n} images · macro F1 ${(ev.macroF1 ?? 0).toFixed(3)} · ${labels.length} classes`;
  table($('confusion'), ['actual ↓ / predicted →', ...labels], ev.confusion.map((row, i) => [labels[i], ...row.map((v, j) => ({ text: v, cls: i === j ? 'diag' : v ? 'off' : '' }))]));
  table($('per-class'), ['class', 'precision', 'recall', 'F1', 'support'], labels.map((l) => {
    const p = ev.perClass[l];
    return [l, p.precision.toFixed(2), p.recall.toFixed(2), p.f1.toFixed(2), p.support];
  }));
  await showMisclassified(state.job.id, result.misclassified, ev.n);
}

// Misclassified test images: thumbnails served by index into the job's own result.
async function showMisclassified(jobId, list, n) {
  const box = $('misclassified');
  box.replaceChildren();
  if (!Array.isArray(list)) {
    box.textContent = 'This recipe lists no misclassified test images.';
    return;
  }
  if (!list.length) {
    box.textContent = `None: all ${n} test images are classified as their class.`;
    return;
  }
  for (const [i, m] of list.entries()) {
    const fig = document.createElement('figure');
    fig.dataset.actual = m.actual;
    fig.dataset.predicted = m.predicted;
    const img = document.createElement('img');
    img.alt = `${m.file}: ${m.actual} predicted as ${m.predicted}`;
    img.title = m.file;
    fig.append(img, Object.assign(document.createElement('figcaption'), { textContent: `${m.actual} → ${m.predicted} (${(100 * m.p).toFixed(0)}%)` }));
    box.append(fig);
    const bytes = await api(`/v1/jobs/${encodeURIComponent(jobId)}/misclassified/${i}`);
    img.src = URL.createObjectURL(new Blob([bytes], { type: 'image/png' }));
  }
}

// ---- try & download ----------------------------------------------------------------------------
async function refreshModels() {
  const { models } = await api('/v1/models');
  const sel = $('model-select');
  const keep = state.model ?? sel.value;
  sel.replaceChildren(...models.filter((m) => m.state === 'ready').map((m) => Object.assign(document.createElement('option'), { value: m.name, textContent: `${m.name} (${m.labels.length} classes)` })));
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

function bars(el, pairs) {
  el.replaceChildren();
  for (const [label, p] of pairs) {
    const li = document.createElement('li');
    li.innerHTML = '<span class="label"></span><span class="bar"></span><span class="p"></span>';
    li.querySelector('.label').textContent = label;
    li.querySelector('.bar').style.width = `${Math.max(1, 100 * p)}%`;
    li.querySelector('.p').textContent = `${(100 * p).toFixed(1)}%`;
    li.dataset.label = label;
    li.dataset.p = String(p);
    el.append(li);
  }
}

async function tryImage(file) {
  notice();
  const name = $('model-select').value;
  if (!name) return notice('no model is served yet: train one first');
  const fd = new FormData();
  fd.append('image', file, file.name || 'image.png');
  const server = await api(`/v1/models/${encodeURIComponent(name)}/predict?top=5`, { method: 'POST', body: fd });
  bars($('server-result'), server.predictions[0].top.map((t) => [t.label, t.probability]));
  $('browser-result').replaceChildren();
  $('browser-diff').textContent = '';
  if (!$('in-browser').checked) return;
  const meta = await api(`/v2/models/${encodeURIComponent(name)}`);
  const pre = meta.parameters.preprocess;
  const img = new Image();
  img.src = URL.createObjectURL(file);
  await img.decode();
  const x = preprocess(img, $('try-canvas'), pre);
  const sess = await session(`${name}@${meta.parameters.created}`, () => api(`/v1/models/${encodeURIComponent(name)}/onnx`));
  const local = await runLocal(sess, x, pre);
  const order = [...local.keys()].sort((a, b) => local[b] - local[a]).slice(0, 5);
  bars($('browser-result'), order.map((j) => [meta.labels[j], local[j]]));
  // The same tensor through the server (Open Inference Protocol, FP32): the engines must agree.
  const [h, w] = pre.size;
  const r = await api(`/v2/models/${encodeURIComponent(name)}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, h, w, 3], data: Array.from(x) }], outputs: [{ name: 'probabilities' }] }),
  });
  const remote = r.outputs[0].data;
  const diff = Math.max(...remote.map((v, i) => Math.abs(v - local[i])));
  const p = $('browser-diff');
  p.dataset.diff = String(diff);
  p.textContent = `same pixels on the server: max |difference| ${diff.toExponential(1)} (browser resizing differs from the server's, so the two lists above can differ a little)`;
}

async function download(kind) {
  const name = $('model-select').value;
  if (!name) return notice('no model to download');
  $('download-status').textContent = kind === 'onnx' ? 'exporting…' : 'packing…';
  const bytes = await api(`/v1/models/${encodeURIComponent(name)}/${kind}`);
  saveAs(bytes, `${name}.${kind === 'onnx' ? 'onnx' : 'tar'}`);
  $('download-status').textContent = `${name}.${kind === 'onnx' ? 'onnx' : 'tar'}: ${(bytes.byteLength / 1024).toFixed(0)} kB`;
  $('download-status').dataset.bytes = String(bytes.byteLength);
}

// ---- wiring ------------------------------------------------------------------------------------
function init() {
  window.addEventListener('hashchange', showTab);
  showTab();
  $('token').value = token();
  $('token').onchange = () => (setToken($('token').value), notice());
  $('add-class').onsubmit = (e) => {
    e.preventDefault();
    addClass($('class-name').value);
    $('class-name').value = '';
  };
  $('webcam-toggle').onclick = guard(toggleWebcam);
  $('train-button').onclick = guard(train);
  $('cancel-button').onclick = guard(async () => state.job && (await api(`/v1/jobs/${state.job.id}`, { method: 'DELETE' })));
  $('try-file').onchange = guard(() => $('try-file').files[0] && tryImage($('try-file').files[0]));
  $('try-webcam').onclick = guard(async () => tryImage(await webcamFrame('webcam.png')));
  $('download-bundle').onclick = guard(() => download('bundle'));
  $('download-onnx').onclick = guard(() => download('onnx'));
  drawCharts();
  renderClasses();
  void loadBackbones().catch(fail);
}

/** The backbone choices: bundled ones first (no download), the default selected. */
async function loadBackbones() {
  const { backbones } = await api('/v1/backbones');
  const sel = $('backbone');
  const sorted = [...backbones].sort((a, b) => Number(b.bundled) - Number(a.bundled));
  sel.replaceChildren(...sorted.map((b) => Object.assign(document.createElement('option'), { value: b.name, textContent: `${b.name} (${b.dim}-d${b.bundled ? ', bundled' : ', downloads its weights'})` })));
  sel.value = 'mobilenet_v2.nsfwjs';
}
init();
