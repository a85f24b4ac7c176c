/**
 * Dependency-free line plots: an SVG string (for reports) and a PNG file rendered from it by sharp
 * (librsvg inside the sharp npm package, offline).
 */
import sharp from 'sharp';
import { writeFileAtomic } from '../util/fs.js';

export interface Series {
  name: string;
  xs: number[];
  ys: number[];
  color?: string;
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
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  return Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
}

function fmt(v: number): string {
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-2 || a >= 1e4) ? v.toExponential(0) : String(+v.toPrecision(3));
}

export function linePlotSvg(series: Series[], o: PlotOptions): string {
  const W = o.width ?? 640;
  const H = o.height ?? 400;
  const m = { l: 64, r: 16, t: 36, b: 48 };
  const tx = (x: number) => (o.logX ? Math.log10(x) : x);
  const all = series.flatMap((s) => s.xs.map((x, i) => [tx(x), s.ys[i]] as const)).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(o.title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
  ];
  for (const t of ticks(x0, x1)) {
    parts.push(`<line x1="${px(t)}" y1="${H - m.b}" x2="${px(t)}" y2="${H - m.b + 4}" stroke="black"/>`);
    parts.push(`<text x="${px(t)}" y="${H - m.b + 17}" text-anchor="middle">${fmt(o.logX ? Math.pow(10, t) : t)}</text>`);
  }
  for (const t of ticks(y0, y1)) {
    parts.push(`<line x1="${m.l - 4}" y1="${py(t)}" x2="${W - m.r}" y2="${py(t)}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.l - 7}" y="${py(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  parts.push(`<text x="${W / 2}" y="${H - 10}" text-anchor="middle">${esc(o.xlabel)}</text>`);
  parts.push(`<text x="16" y="${H / 2}" text-anchor="middle" transform="rotate(-90 16 ${H / 2})">${esc(o.ylabel)}</text>`);
  series.forEach((s, k) => {
    const color = s.color ?? COLORS[k % COLORS.length];
    const pts = s.xs.map((x, i) => [tx(x), s.ys[i]] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    if (series.length > 1) parts.push(`<text x="${W - m.r - 6}" y="${m.t + 14 * (k + 1)}" text-anchor="end" fill="${color}">${esc(s.name)}</text>`);
  });
  for (const mk of o.markers ?? []) {
    const x = px(tx(mk.x));
    parts.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${H - m.b}" stroke="#d62728" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${x + 4}" y="${m.t + 12}" fill="#d62728">${esc(mk.label)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Render an SVG to a PNG file (atomically). */
export async function writeSvgPng(svg: string, file: string): Promise<void> {
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  writeFileAtomic(file, png);
}
