/**
 * Target rows for a two-domain objective: before each step, as many target rows as the source
 * batch holds, drawn as a deterministic function of (seed, step) so a resumed run draws the same.
 */
import { tf } from '../../engine/tfjs.js';
import type { StepInfo } from '../../train/objective.js';
import { rng } from '../../util/rng.js';

export interface TargetRows {
  x: Float32Array;
  n: number;
  dim: number;
}

export class TargetBatches {
  private batch: tf.Tensor2D | undefined;
  constructor(
    private readonly target: TargetRows,
    private readonly seed: number,
  ) {
    if (target.n < 2) throw new Error(`adaptation needs at least 2 target images, got ${target.n}`);
  }
  /** Draw the batch for this step (outside the tape). */
  draw(info: StepInfo): void {
    this.batch?.dispose();
    const { x, n, dim } = this.target;
    const m = info.idx.length;
    const r = rng((this.seed * 1_000_003 + info.step * 7919 + 17) >>> 0);
    const rows = new Float32Array(m * dim);
    for (let i = 0; i < m; i++) {
      const j = Math.floor(r() * n);
      rows.set(x.subarray(j * dim, (j + 1) * dim), i * dim);
    }
    this.batch = tf.tensor2d(rows, [m, dim]);
  }
  get current(): tf.Tensor2D {
    if (!this.batch) throw new Error('no target batch drawn for this step (beforeStep was not called)');
    return this.batch;
  }
  end(): void {
    this.batch?.dispose();
    this.batch = undefined;
  }
}
