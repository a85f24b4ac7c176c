// A small SVG line chart: training (solid) and validation (dashed) series over epochs.
const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** series: { train: number[], val: number[] }; fixed01: y axis 0..1 (accuracy). */
export function lineChart(svg, series, { fixed01 = false } = {}) {
  svg.replaceChildren();
  const W = 360, H = 200, L = 36, R = 10, T = 10, B = 24;
  const all = [...series.train, ...series.val].filter(Number.isFinite);
  const n = Math.max(series.train.length, series.val.length);
  let lo = fixed01 ? 0 : Math.min(...all, 0);
  let hi = fixed01 ? 1 : Math.max(...all, 1e-6);
  if (hi === lo) hi = lo + 1;
  const x = (i) => L + (n <= 1 ? 0 : (i / (n - 1)) * (W - L - R));
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  svg.append(el('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }), el('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }));
  for (const v of [lo, (lo + hi) / 2, hi]) svg.append(el('text', { x: 2, y: y(v) + 3 }, v.toFixed(2)));
  svg.append(el('text', { x: W - R - 40, y: H - 6 }, `${n} epoch${n === 1 ? '' : 's'}`));
  for (const [name, values] of Object.entries(series)) {
    const pts = values.map((v, i) => [x(i), y(v)]).filter(([, yy]) => Number.isFinite(yy));
    if (!pts.length) continue;
    svg.append(el('polyline', { class: name, points: pts.map((p) => p.join(',')).join(' ') }));
    for (const [px, py] of pts) svg.append(el('circle', { cx: px, cy: py, r: 2, fill: name === 'train' ? '#2f6fde' : '#e08a1e' }));
  }
}
