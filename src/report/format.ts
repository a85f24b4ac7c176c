/** Text helpers shared by the SVG plots and the HTML reports. */

/** Escape text for HTML/SVG element content and double-quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** A number for people: integers as they are, others with 4 significant digits. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : String(+v.toPrecision(4));
}

/** A fraction as a percentage with two decimals: 0.93333 → "93.33%". */
export function percent(v: number): string {
  return `${(100 * v).toFixed(2)}%`;
}

/** Any summary/config value as display text (objects as compact JSON). */
export function formatValue(v: unknown): string {
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'string') return v;
  if (v === undefined) return '';
  return JSON.stringify(v, (_, x) => (typeof x === 'number' && !Number.isInteger(x) ? +x.toPrecision(6) : x));
}
