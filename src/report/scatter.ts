/** Dependency-free 2-D scatter plot as SVG (rendered to PNG by plot.ts's svgToPng), one colour per group. */
import { escapeHtml as esc } from './format.js';
import { COLORS, fmt, niceStep, ticks } from './plot.js';

export interface ScatterOptions {
  title: string;
  xlabel: string;
  ylabel: string;
  width?: number;
  height?: number;
  /** Legend entry per group (default "group N"); the legend is drawn for up to 24 groups. */
  groupNames?: string[];
}

/** Colour of group g of k: the report palette up to 10 groups, evenly spaced hues beyond. */
export function groupColor(g: number, k: number): string {
  return k <= COLORS.length ? COLORS[g] : `hsl(${Math.round((g * 360) / k)},70%,45%)`;
}

/** xs[i], ys[i] drawn in the colour of groups[i] (0-based). */
export function scatterSvg(xs: ArrayLike<number>, ys: ArrayLike<number>, groups: ArrayLike<number>, o: ScatterOptions): string {
  const n = xs.length;
  if (n === 0 || ys.length !== n || groups.length !== n) throw new Error(`scatter "${o.title}": expected as many x, y and group values, got ${xs.length}, ${ys.length}, ${groups.length}`);
  let k = 0;
  for (let i = 0; i < n; i++) k = Math.max(k, groups[i] + 1);
  const W = o.width ?? 640;
  const H = o.height ?? 480;
  const legend = k <= 24;
  const names = Array.from({ length: k }, (_, g) => o.groupNames?.[g] ?? `group ${g}`);
  const legendW = legend ? 30 + 7 * Math.max(...names.map((s) => s.length)) : 0;
  const m = { l: 64, r: 16 + legendW, t: 36, b: 48 };
  const range = (v: ArrayLike<number>): [number, number] => {
    let [lo, hi] = [Infinity, -Infinity];
    for (let i = 0; i < n; i++) [lo, hi] = [Math.min(lo, v[i]), Math.max(hi, v[i])];
    if (lo === hi) [lo, hi] = [lo - 1, hi + 1];
    const step = niceStep(lo, hi);
    return [Math.floor(lo / step + 1e-9) * step, Math.ceil(hi / step - 1e-9) * step];
  };
  const [x0, x1] = range(xs);
  const [y0, y1] = range(ys);
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(o.title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
  ];
  const xStep = niceStep(x0, x1);
  for (const t of ticks(x0, x1)) {
    parts.push(`<line x1="${px(t)}" y1="${H - m.b}" x2="${px(t)}" y2="${H - m.b + 4}" stroke="black"/>`);
    parts.push(`<text x="${px(t)}" y="${H - m.b + 17}" text-anchor="middle">${fmt(t, xStep)}</text>`);
  }
  const yStep = niceStep(y0, y1);
  for (const t of ticks(y0, y1)) {
    parts.push(`<line x1="${m.l - 4}" y1="${py(t)}" x2="${W - m.r}" y2="${py(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${m.l - 7}" y="${py(t) + 4}" text-anchor="end">${fmt(t, yStep)}</text>`);
  }
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">${esc(o.xlabel)}</text>`);
  parts.push(`<text x="16" y="${H / 2}" text-anchor="middle" transform="rotate(-90 16 ${H / 2})">${esc(o.ylabel)}</text>`);
  // One <g> per group keeps the SVG small (the colour is written once).
  for (let g = 0; g < k; g++) {
    const dots: string[] = [];
    for (let i = 0; i < n; i++) if (groups[i] === g) dots.push(`<circle cx="${px(xs[i]).toFixed(1)}" cy="${py(ys[i]).toFixed(1)}" r="2.2"/>`);
    parts.push(`<g class="group" data-group="${g}" fill="${groupColor(g, k)}" fill-opacity="0.7">${dots.join('')}</g>`);
    if (legend) {
      const ly = m.t + 8 + 16 * g;
      const lx = W - legendW;
      parts.push(`<circle cx="${lx + 6}" cy="${ly}" r="4" fill="${groupColor(g, k)}"/>`);
      parts.push(`<text x="${lx + 16}" y="${ly + 4}">${esc(names[g])}</text>`);
    }
  }
  parts.push('</svg>');
  return parts.join('\n');
}
