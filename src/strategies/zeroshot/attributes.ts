/**
 * Class descriptions for zero-shot learning: a CSV table (`class,attr1,attr2,…`, one row per class,
 * seen and unseen, values binary or real, an optional header row) or any class embeddings (an .npy
 * [classes, dims] float32 matrix plus a text file of class names, one per line, in row order).
 * Every problem is an error naming the file, line and class.
 */
import fs from 'node:fs';
import { decodeNpy } from '../../util/npy.js';

export interface ClassTable {
  names: string[];
  /** Z×A row-major, as given. */
  values: Float64Array;
  /** A: attributes (or embedding dimensions) per class. */
  dim: number;
  /** Attribute names (from the header, else attr1…). */
  columns: string[];
  source: string;
}

/** One CSV line into cells ("…" quoting with "" escapes). */
function csvCells(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (q) {
      if (ch === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (ch === '"') q = false;
      else cur += ch;
    } else if (ch === '"') q = true;
    else if (ch === ',') out.push(cur.trim()), (cur = '');
    else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

const isNumber = (s: string) => s !== '' && Number.isFinite(Number(s));

/** Checks shared by both sources: names unique and non-empty, values finite, no two classes alike. */
function checkTable(t: ClassTable, where: (row: number) => string): ClassTable {
  if (t.dim < 1) throw new Error(`${t.source}: no attribute columns; expected class,attr1,attr2,… (one row per class)`);
  const seen = new Map<string, number>();
  t.names.forEach((nm, r) => {
    if (!nm) throw new Error(`${t.source}: ${where(r)} has an empty class name`);
    const prev = seen.get(nm);
    if (prev !== undefined) throw new Error(`${t.source}: ${where(r)}: class "${nm}" is listed twice (also ${where(prev)})`);
    seen.set(nm, r);
    for (let j = 0; j < t.dim; j++) {
      const v = t.values[r * t.dim + j];
      if (!Number.isFinite(v)) throw new Error(`${t.source}: ${where(r)} (class "${nm}"): ${t.columns[j]} is ${v}, not a finite number`);
    }
  });
  const key = new Map<string, number>();
  for (let r = 0; r < t.names.length; r++) {
    const k = Array.from(t.values.subarray(r * t.dim, (r + 1) * t.dim)).join(',');
    const prev = key.get(k);
    if (prev !== undefined) throw new Error(`${t.source}: classes "${t.names[prev]}" (${where(prev)}) and "${t.names[r]}" (${where(r)}) have identical attributes: they cannot be told apart`);
    key.set(k, r);
  }
  if (t.names.length < 2) throw new Error(`${t.source}: ${t.names.length} class row(s); zero-shot needs seen and unseen classes`);
  return t;
}

/** Parse `class,attr1,attr2,…` text (blank lines and lines starting with # are skipped). */
export function parseClassCsv(text: string, source: string): ClassTable {
  const rows = text
    .split(/\r?\n/)
    .map((l, i) => ({ line: i + 1, text: l }))
    .filter((l) => l.text.trim() !== '' && !l.text.trimStart().startsWith('#'))
    .map((l) => ({ line: l.line, cells: csvCells(l.text) }));
  if (rows.length === 0) throw new Error(`${source}: empty; expected class,attr1,attr2,… (one row per class)`);
  const width = rows[0].cells.length;
  if (width < 2) throw new Error(`${source}: has one column (class names only); expected class,attr1,attr2,… with at least one attribute column`);
  const header = rows[0].cells.slice(1).some((c) => !isNumber(c)) && !rows[0].cells.slice(1).some((c) => c === '' || /^nan$/i.test(c));
  const columns = header ? rows[0].cells.slice(1) : Array.from({ length: width - 1 }, (_, j) => `attr${j + 1}`);
  const body = header ? rows.slice(1) : rows;
  const dim = width - 1;
  const values = new Float64Array(body.length * dim);
  const names = body.map((r, i) => {
    const nm = r.cells[0];
    if (r.cells.length !== width) throw new Error(`${source}: line ${r.line} (class "${nm}"): ${r.cells.length - 1} attribute values, expected ${dim}`);
    for (let j = 0; j < dim; j++) {
      const c = r.cells[j + 1];
      if (c === '') throw new Error(`${source}: line ${r.line} (class "${nm}"): ${columns[j]} is missing`);
      if (!isNumber(c)) throw new Error(`${source}: line ${r.line} (class "${nm}"): ${columns[j]} is "${c}", not a number`);
      values[i * dim + j] = Number(c);
    }
    return nm;
  });
  return checkTable({ names, values, dim, columns, source }, (r) => `line ${body[r].line}`);
}

export function readClassCsv(file: string): ClassTable {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such file`);
  return parseClassCsv(fs.readFileSync(file, 'utf8'), file);
}

/** Class embeddings: `emb.npy` [Z, A] and `names.txt` (Z lines). */
export function readClassEmbeddings(npyFile: string, namesFile: string): ClassTable {
  for (const f of [npyFile, namesFile]) if (!fs.existsSync(f)) throw new Error(`${f}: no such file`);
  const { data, shape } = decodeNpy(fs.readFileSync(npyFile), npyFile);
  if (shape.length !== 2) throw new Error(`${npyFile}: shape [${shape}]; expected [classes, dims]`);
  if (!(data instanceof Float32Array)) throw new Error(`${npyFile}: expected float32 embeddings`);
  const names = fs.readFileSync(namesFile, 'utf8').split(/\r?\n/).map((l) => l.trim());
  while (names.length && names[names.length - 1] === '') names.pop();
  if (names.length !== shape[0]) throw new Error(`${namesFile}: ${names.length} class names for ${shape[0]} rows of ${npyFile}`);
  const t: ClassTable = { names, values: Float64Array.from(data), dim: shape[1], columns: Array.from({ length: shape[1] }, (_, j) => `dimension ${j + 1}`), source: npyFile };
  return checkTable(t, (r) => `row ${r + 1}`);
}

/** Index in the table of every class of the image folder; a class with no row is an error naming it. */
export function seenIndex(table: ClassTable, labels: string[], dir: string): number[] {
  const missing = labels.filter((l) => !table.names.includes(l));
  if (missing.length) {
    throw new Error(`${dir}: class${missing.length > 1 ? 'es' : ''} ${missing.map((m) => `"${m}"`).join(', ')} ha${missing.length > 1 ? 've' : 's'} no row in ${table.source}`);
  }
  return labels.map((l) => table.names.indexOf(l));
}

/** Rows L2-normalised (a zero row stays zero): every class description on the same scale. */
export function normalisedRows(t: ClassTable): Float64Array {
  const out = Float64Array.from(t.values);
  for (let r = 0; r < t.names.length; r++) {
    let s = 0;
    for (let j = 0; j < t.dim; j++) s += out[r * t.dim + j] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < t.dim; j++) out[r * t.dim + j] *= inv;
  }
  return out;
}
