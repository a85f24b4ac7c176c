/**
 * Confusion-matrix heat-map as SVG: rows are actual classes, columns predicted; a cell's shade is
 * its share of the row (the class's recall on the diagonal), its text the raw count.
 */
import { escapeHtml as esc } from './format.js';

export interface HeatmapOptions {
  title: string;
  /** Side of the square grid in pixels before clamping cell sizes (default 560). */
  size?: number;
}

/** White → dark blue for t in [0, 1]. */
function shade(t: number): string {
  const lerp = (a: number, b: number) => Math.round(a + (b - a) * t);
  return `rgb(${lerp(247, 8)},${lerp(251, 48)},${lerp(255, 107)})`;
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

export function confusionSvg(confusion: number[][], labels: string[], o: HeatmapOptions): string {
  const k = labels.length;
  if (k === 0 || confusion.length !== k || confusion.some((r) => r.length !== k)) {
    throw new Error(`confusion heat-map "${o.title}": expected a ${k}×${k} matrix for ${k} labels`);
  }
  const cell = Math.max(6, Math.min(56, Math.floor((o.size ?? 560) / k)));
  const showLabels = cell >= 10;
  const showCounts = cell >= 22;
  const font = Math.min(12, Math.max(7, cell - 4));
  const names = labels.map((l) => clip(l, 14));
  const labelW = showLabels ? Math.ceil(0.62 * font * Math.max(...names.map((n) => n.length))) + 8 : 0;
  const left = 28 + labelW;
  const top = 40;
  const grid = cell * k;
  const bottom = 30 + Math.ceil(labelW * 0.75);
  const W = Math.max(left + grid + 16, 320);
  const H = top + grid + bottom;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, sans-serif" font-size="${font}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${esc(o.title)}</text>`,
  ];
  confusion.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((v, j) => {
      const t = total ? v / total : 0;
      const [x, y] = [left + j * cell, top + i * cell];
      parts.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${shade(t)}"${showLabels ? ' stroke="#ccc" stroke-width="0.5"' : ''}/>`);
      if (showCounts && v > 0) {
        parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + font / 3}" text-anchor="middle" fill="${t > 0.5 ? 'white' : 'black'}">${v}</text>`);
      }
    });
  });
  parts.push(`<rect x="${left}" y="${top}" width="${grid}" height="${grid}" fill="none" stroke="black"/>`);
  if (showLabels) {
    names.forEach((n, i) => {
      const c = top + i * cell + cell / 2 + font / 3;
      parts.push(`<text x="${left - 5}" y="${c}" text-anchor="end">${esc(n)}</text>`);
      const cx = left + i * cell + cell / 2;
      const cy = top + grid + 6;
      parts.push(`<text x="${cx}" y="${cy}" text-anchor="end" dominant-baseline="middle" transform="rotate(-45 ${cx} ${cy})">${esc(n)}</text>`);
    });
  }
  parts.push(`<text x="${left + grid / 2}" y="${H - 8}" text-anchor="middle" font-size="12">predicted</text>`);
  parts.push(`<text x="14" y="${top + grid / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${top + grid / 2})">actual</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
