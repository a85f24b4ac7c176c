/**
 * The Hungarian algorithm (Kuhn–Munkres, in the O(n²m) shortest-augmenting-path form with row and
 * column potentials): a minimum-cost assignment of every row of an n×m cost matrix (n ≤ m) to a
 * distinct column. Used to match clusters to classes for "Hungarian-matched accuracy".
 */

/** rowToCol[i] = the column row i is assigned to; the total cost is minimal. Requires rows ≤ columns. */
export function hungarian(cost: number[][]): number[] {
  const n = cost.length;
  if (n === 0) return [];
  const m = cost[0].length;
  if (cost.some((r) => r.length !== m)) throw new Error('hungarian: rows of different lengths');
  if (n > m) throw new Error(`hungarian: ${n} rows but only ${m} columns (transpose the matrix)`);
  // 1-based arrays; column 0 is a virtual start. p[j] = row matched to column j.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(m + 1).fill(Infinity);
    const used = new Uint8Array(m + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const rowToCol = new Array<number>(n).fill(-1);
  for (let j = 1; j <= m; j++) if (p[j] > 0) rowToCol[p[j] - 1] = j - 1;
  return rowToCol;
}

/** The assignment maximising the total of a score matrix (any shape): pairs [row, col]. */
export function maxAssignment(score: number[][]): [number, number][] {
  const n = score.length;
  const m = n ? score[0].length : 0;
  if (n === 0 || m === 0) return [];
  const max = Math.max(...score.flat());
  const transposed = n > m;
  const cost = transposed ? Array.from({ length: m }, (_, j) => score.map((r) => max - r[j])) : score.map((r) => r.map((s) => max - s));
  const match = hungarian(cost);
  return match.map((c, r) => (transposed ? [c, r] : [r, c]) as [number, number]);
}
