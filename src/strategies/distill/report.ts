/** report.html of `graft distill`: teacher, distilled student and label-only student side by side (self-contained, no scripts). */
import path from 'node:path';
import { writeFileAtomic } from '../../util/fs.js';
import type { ModelFigures } from './measure.js';

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function writeDistillReport(file: string, r: { teacher: ModelFigures; student: ModelFigures; baseline: ModelFigures; settings: Record<string, unknown> }): string {
  const rows = (['teacher', 'student', 'baseline'] as const).map((k) => {
    const m = r[k];
    const name = k === 'student' ? 'student (distilled)' : k === 'baseline' ? 'student (labels only)' : 'teacher';
    return `<tr><td>${name}</td><td>${(100 * m.accuracy).toFixed(2)}%</td><td>${m.params.toLocaleString('en')}</td><td>${(m.bundleBytes / 1024).toFixed(1)} KB</td><td>${m.imgPerSec['1'].toFixed(1)}</td><td>${m.imgPerSec['16'].toFixed(1)}</td><td>${esc(path.basename(m.bundle))}</td></tr>`;
  });
  const settings = Object.entries(r.settings).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(JSON.stringify(v))}</td></tr>`);
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>graft distill</title><style>body{font:14px system-ui;margin:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}</style></head><body>
<h1>graft distill</h1><p>Accuracy on the test split; images/s through the reloaded bundle (decode → preprocess → network), batch 1 and 16, measured in this run.</p>
<table><tr><th>model</th><th>accuracy</th><th>parameters</th><th>bundle size</th><th>img/s @1</th><th>img/s @16</th><th>bundle</th></tr>${rows.join('')}</table>
<h2>Settings</h2><table>${settings.join('')}</table></body></html>\n`;
  writeFileAtomic(file, html);
  return file;
}
