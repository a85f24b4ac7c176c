/**
 * Dependency-free line plots: an SVG string (for reports) and a PNG rendered from it by sharp
 * (librsvg inside the sharp npm package, offline). Several series with a legend, optional ± bands
 * with error bars, dashed lines, point dots, log-scaled x.
 */
import sharp from 'sharp';
import { writeFileAtomic } from '../util/fs.js';
import { escapeHtml as esc } from './format.js';

export interface Series {
  name: string;
  xs: number[];
  ys: number[];
  color?: string;
  /** ± spread at each point (e.g. a standard deviation): a shaded band plus error bars. */
  err?: number[];
  /** Dashed line (e.g. validation next to training). */
  dashed?: boolean;
}

export interface PlotOptions {
  title: string;
  xlabel: string;
  ylabel: string;
  logX?: boolean;
  width?: number;
  height?: number;
  /** Vertical marker lines (e.g. a suggested learning rate). */
  markers?: { x: number; label: string }[];
  /** Fixed y range; default fitted to the data (error bands included). */
  yRange?: [number, number];
}

export const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
/** Series with at most this many points get a dot at each point. */
const DOTS_UP_TO = 30;

/** A round step (1, 2 or 5 × 10^k) giving about n intervals over [lo, hi]. */
export function niceStep(lo: number, hi: number, n = 5): number {
  const raw = (hi - lo) / n;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw * (1 - 1e-9)) ?? 10 * p;
}

/** Round-numbered ticks inside [lo, hi]. */
export function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step = niceStep(lo, hi, n);
  const out: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

/** Ticks for a log10 axis, in log10 units: decades, or 1-2-5 steps over ≤ 2 decades. */
function logTicks(lo: number, hi: number): number[] {
  const mult = hi - lo <= 2 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
    for (const m of mult) {
      const v = Math.log10(m) + e;
      if (v >= lo - 1e-9 && v <= hi + 1e-9) out.push(v);
    }
  }
  return out.length >= 2 ? out : ticks(lo, hi);
}

/** A tick label with as many significant digits as the tick step needs. */
export function fmt(v: number, step = Math.abs(v)): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  const digits = Math.min(6, Math.max(1, Math.floor(Math.log10(a)) - Math.floor(Math.log10(step || a)) + 1));
  return a < 1e-2 || a >= 1e5 ? v.toExponential(digits - 1).replace(/\.?0+e/, 'e') : String(+v.toPrecision(digits));
}

interface Pt {
  x: number;
  y: number;
  e: number;
}

export function linePlotSvg(series: Series[], o: PlotOptions): string {
  const W = o.width ?? 640;
  const H = o.height ?? 400;
  const tx = (x: number) => (o.logX ? Math.log10(x) : x);
  const points = (s: Series): Pt[] =>
    s.xs.map((x, i) => ({ x: tx(x), y: s.ys[i], e: Math.abs(s.err?.[i] ?? 0) })).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const pts = series.map(points);
  const all = pts.flat();
  if (all.length === 0) throw new Error(`plot "${o.title}": no finite points to draw`);
  const legend = series.length > 1;
  const legendW = legend ? 34 + 7 * Math.max(...series.map((s) => s.name.length)) : 0;
  const m = { l: 64, r: 16 + legendW, t: 36, b: 48 };
  let [x0, x1] = [Math.min(...all.map((p) => p.x)), Math.max(...all.map((p) => p.x))];
  if (x0 === x1) [x0, x1] = o.logX ? [x0 - 0.5, x1 + 0.5] : [x0 - 1, x1 + 1];
  let [y0, y1] = o.yRange ?? [Math.min(...all.map((p) => p.y - (Number.isFinite(p.e) ? p.e : 0))), Math.max(...all.map((p) => p.y + (Number.isFinite(p.e) ? p.e : 0)))];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  if (!o.yRange) {
    const step = niceStep(y0, y1);
    [y0, y1] = [Math.floor(y0 / step + 1e-9) * step, Math.ceil(y1 / step - 1e-9) * step];
  }
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((Math.min(y1, Math.max(y0, y)) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const xy = (x: number, y: number) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(o.title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
  ];
  const xStep = o.logX ? 0 : niceStep(x0, x1);
  for (const t of o.logX ? logTicks(x0, x1) : ticks(x0, x1)) {
    parts.push(`<line x1="${px(t)}" y1="${H - m.b}" x2="${px(t)}" y2="${H - m.b + 4}" stroke="black"/>`);
    parts.push(`<text x="${px(t)}" y="${H - m.b + 17}" text-anchor="middle">${o.logX ? fmt(Math.pow(10, t)) : fmt(t, xStep)}</text>`);
  }
  const yStep = niceStep(y0, y1);
  for (const t of ticks(y0, y1)) {
    parts.push(`<line x1="${m.l - 4}" y1="${py(t)}" x2="${W - m.r}" y2="${py(t)}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.l - 7}" y="${py(t) + 4}" text-anchor="end">${fmt(t, yStep)}</text>`);
  }
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">${esc(o.xlabel)}</text>`);
  parts.push(`<text x="16" y="${H / 2}" text-anchor="middle" transform="rotate(-90 16 ${H / 2})">${esc(o.ylabel)}</text>`);
  series.forEach((s, k) => {
    const color = s.color ?? COLORS[k % COLORS.length];
    const p = pts[k];
    const banded = p.filter((q) => q.e > 0 && Number.isFinite(q.e));
    if (banded.length > 1) {
      const band = [...banded.map((q) => xy(q.x, q.y + q.e)), ...[...banded].reverse().map((q) => xy(q.x, q.y - q.e))];
      parts.push(`<polygon fill="${color}" fill-opacity="0.15" stroke="none" points="${band.join(' ')}"/>`);
    }
    for (const q of p) {
      if (!(q.e > 0 && Number.isFinite(q.e))) continue;
      const [a, b, c] = [px(q.x).toFixed(1), py(q.y + q.e).toFixed(1), py(q.y - q.e).toFixed(1)];
      parts.push(`<path d="M${a},${b}V${c}M${+a - 4},${b}h8M${+a - 4},${c}h8" stroke="${color}" stroke-width="1.2" fill="none"/>`);
    }
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${p.map((q) => xy(q.x, q.y)).join(' ')}"/>`);
    if (p.length <= DOTS_UP_TO) for (const q of p) parts.push(`<circle cx="${px(q.x).toFixed(1)}" cy="${py(q.y).toFixed(1)}" r="3" fill="${color}"/>`);
    if (legend) {
      const ly = m.t + 8 + 18 * k;
      const lx = W - legendW;
      parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
      parts.push(`<text x="${lx + 30}" y="${ly + 4}" fill="${color}">${esc(s.name)}</text>`);
    }
  });
  for (const mk of o.markers ?? []) {
    const x = px(tx(mk.x));
    parts.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${H - m.b}" stroke="#d62728" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${x + 4}" y="${m.t + 12}" fill="#d62728">${esc(mk.label)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Render an SVG to PNG bytes. */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** Render an SVG to a PNG file (atomically). */
export async function writeSvgPng(svg: string, file: string): Promise<void> {
  writeFileAtomic(file, await svgToPng(svg));
}
