/**
 * Fresh dropout masks every step, still reproducible. tfjs-layers' Dropout draws its mask from
 * `seed` when one is given — the same mask on every call, so a seeded layer drops the same units
 * of the same batch position at every step (a fixed sub-network, not dropout). The Trainer gives
 * each seeded Dropout layer a seed derived from its own seed and the optimizer step before each
 * step (a resumed run draws the same masks) and puts the layer's own seed back afterwards.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { allLayers } from '../models/walk.js';
import { tfSeed } from '../util/rng.js';

interface Seeded {
  layer: { seed?: number };
  base: number;
}

/** The mask seed of a layer seeded `base` at optimizer step `step`. */
export const stepSeed = (base: number, step: number): number => (Math.imul(base + 1, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b)) >>> 0;

export class DropoutSeeds {
  private readonly seeded: Seeded[] = [];
  constructor(models: tfl.LayersModel[]) {
    for (const l of allLayers(models)) {
      const s = (l as unknown as { seed?: unknown }).seed;
      if (l.getClassName() === 'Dropout' && typeof s === 'number') this.seeded.push({ layer: l as unknown as { seed?: number }, base: s });
    }
  }
  /** Seeds for the masks of optimizer step `step`. */
  step(step: number): void {
    for (const s of this.seeded) s.layer.seed = tfSeed(stepSeed(s.base, step));
  }
  /** Every layer's own seed back (what the saved model records). */
  restore(): void {
    for (const s of this.seeded) s.layer.seed = s.base;
  }
}
