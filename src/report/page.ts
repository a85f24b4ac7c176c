/**
 * A self-contained HTML page under construction: CSS inline, every image a data: URI, no script.
 * Plots are kept as PNG bytes and written next to the page as files too.
 */
import path from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import { escapeHtml, formatValue } from './format.js';
import { svgToPng } from './plot.js';

export interface WrittenReport {
  /** Path of report.html. */
  html: string;
  /** Paths of the PNG plots written beside it. */
  pngs: string[];
}

export const REPORT_FILE = 'report.html';

const CSS = `
body { font-family: system-ui, "DejaVu Sans", sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
p.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td.text, th.text { text-align: left; }
table.kv td:first-child { text-align: left; font-weight: 600; background: #fafafa; }
table.kv td { text-align: left; max-width: 800px; overflow-wrap: anywhere; }
table.confusion td.diag { background: #e3edf9; font-weight: 600; }
img.plot { max-width: 100%; height: auto; margin: 0.4em 0.4em 0.4em 0; border: 1px solid #eee; }
.thumbs { display: flex; flex-wrap: wrap; gap: 10px; }
.thumbs figure { margin: 0; width: 140px; font-size: 12px; }
.thumbs img { width: 96px; height: 96px; image-rendering: pixelated; border: 1px solid #ccc; display: block; }
.thumbs .missing { width: 96px; height: 96px; border: 1px dashed #c00; color: #c00; font-size: 10px; overflow: hidden; }
code { font-size: 11px; overflow-wrap: anywhere; }
`;

export const pngDataUri = (png: Buffer): string => `data:image/png;base64,${png.toString('base64')}`;

/** An HTML table; cells are text (escaped here) and numbers (formatted). */
export function table(head: string[], rows: (string | number)[][], attrs = ''): string {
  const cell = (v: string | number, tag: 'td' | 'th') => `<${tag}${typeof v === 'string' ? ' class="text"' : ''}>${escapeHtml(typeof v === 'number' ? formatValue(v) : v)}</${tag}>`;
  return [
    `<table${attrs ? ' ' + attrs : ''}>`,
    `<thead><tr>${head.map((h) => cell(h, 'th')).join('')}</tr></thead>`,
    `<tbody>${rows.map((r) => `<tr>${r.map((v) => cell(v, 'td')).join('')}</tr>`).join('\n')}</tbody>`,
    '</table>',
  ].join('\n');
}

/** Two-column key/value table (objects shown as compact JSON). */
export function kvTable(kv: Record<string, unknown>, attrs = 'class="kv"'): string {
  const rows = Object.entries(kv)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(formatValue(v))}</td></tr>`);
  return `<table ${attrs}><tbody>${rows.join('\n')}</tbody></table>`;
}

export class Page {
  private readonly plots = new Map<string, Buffer>();

  /** Render an SVG plot to PNG, keep it to be written as `file`, and return an inline <img>. */
  async plot(file: string, svg: string, alt: string): Promise<string> {
    if (this.plots.has(file)) throw new Error(`report: two plots named ${file}`);
    const png = await svgToPng(svg);
    this.plots.set(file, png);
    return `<img class="plot" data-file="${escapeHtml(file)}" alt="${escapeHtml(alt)}" src="${pngDataUri(png)}">`;
  }

  /** Write the PNGs, then report.html (each atomically) into `dir`. */
  write(dir: string, title: string, body: string): WrittenReport {
    const pngs: string[] = [];
    for (const [file, png] of this.plots) {
      const p = path.join(dir, file);
      writeFileAtomic(p, png);
      pngs.push(p);
    }
    const html = [
      '<!doctype html>',
      '<html lang="en"><head><meta charset="utf-8">',
      '<meta name="viewport" content="width=device-width, initial-scale=1">',
      `<title>${escapeHtml(title)}</title>`,
      `<style>${CSS}</style>`,
      '</head><body>',
      body,
      '</body></html>',
      '',
    ].join('\n');
    const file = path.join(dir, REPORT_FILE);
    writeFileAtomic(file, html);
    return { html: file, pngs };
  }
}
