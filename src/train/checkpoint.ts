/**
 * Resumable training checkpoints: everything needed to continue a Trainer run exactly where a
 * completed epoch left it — every model weight (trainable or not), the optimizers' slots, the
 * best-epoch snapshot, epoch and step counters, history, early-stopping state and the shuffle
 * RNG's state — in one safetensors file (float32 tensors; the rest as JSON in its metadata),
 * written atomically, so a crash or Ctrl-C leaves the previous checkpoint intact.
 *
 * A checkpoint only loads into the run that wrote it: same tag, same weight names and shapes,
 * same training options (the caller's fingerprint); anything else is an error that says what
 * differs.
 */
import fs from 'node:fs';
import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../engine/tfjs.js';
import { parseSafetensorsHeader, readSafetensors, writeSafetensors, type SafetensorsInput } from '../import/safetensors.js';
import { writeFileAtomic } from '../util/fs.js';
import { crc32 } from 'node:zlib';
import type { BatchSource } from './source.js';
import type { EpochLogs, TrainerOptions } from './trainer.js';

export interface CheckpointOptions {
  /** The checkpoint file (rewritten after every epoch). */
  path: string;
  /** Names the run; a checkpoint with another tag is refused. */
  tag?: string;
}

/** Where a run stands after a completed epoch. */
export interface TrainProgress {
  /** Epochs completed. */
  epoch: number;
  /** Optimizer steps taken. */
  step: number;
  /** State of the shuffle RNG (`rng(state)` continues it). */
  rngState: number;
  /** Training has stopped (early stopping or a callback): a resume trains no further. */
  stopped: boolean;
  history: EpochLogs[];
  /** Best monitored score so far (-Infinity: none) and its epoch (-1: none). */
  best: { score: number; epoch: number };
}

/** The live objects a checkpoint is taken from and restored into. */
export interface TrainState {
  model: tfl.LayersModel;
  /** An objective's own networks (e.g. a domain discriminator), saved after the model's weights. */
  modules?: tfl.LayersModel[];
  /** One optimizer per parameter group, in group order. */
  optimizers: tf.Optimizer[];
  /** Weights of the best epoch (model.getWeights() order), if kept. */
  bestWeights?: tf.Tensor[];
}

const FORMAT = 'graft-checkpoint';
const VERSION = 1;

interface Header {
  format: typeof FORMAT;
  version: number;
  tag: string;
  fingerprint: Record<string, unknown>;
  progress: Omit<TrainProgress, 'best'> & { best: { score: number | null; epoch: number } };
  weights: { name: string; shape: number[] }[];
  hasBest: boolean;
  /** Per optimizer: its step count, number of slot tensors, and Adam's running β powers. */
  optimizers: { iterations: number; slots: number; betaPowers?: [number, number] }[];
}

/** Adam's running powers β1^t, β2^t live in private variables; setWeights recomputes them with pow(), which may differ in the last bit. */
interface AdamInternals {
  accBeta1?: tf.Variable;
  accBeta2?: tf.Variable;
}

function networks(state: Pick<TrainState, 'model' | 'modules'>): tfl.LayersModel[] {
  return [state.model, ...(state.modules ?? [])];
}

function weightList(state: Pick<TrainState, 'model' | 'modules'>): { name: string; shape: number[] }[] {
  return networks(state).flatMap((m, j) => m.weights.map((w, i) => ({ name: j ? `module${j}.weight${i}` : w.originalName, shape: w.shape as number[] })));
}

/** Write a checkpoint of `state` at `progress` (atomic). */
export async function saveCheckpoint(opts: CheckpointOptions, fingerprint: Record<string, unknown>, state: TrainState, progress: TrainProgress): Promise<void> {
  const tensors = new Map<string, SafetensorsInput>();
  const put = async (name: string, t: tf.Tensor) => tensors.set(name, { shape: t.shape, data: (await t.data()) as Float32Array });
  const weights = networks(state).flatMap((m) => m.getWeights());
  for (let i = 0; i < weights.length; i++) await put(`model.${i}`, weights[i]);
  if (state.bestWeights) for (let i = 0; i < state.bestWeights.length; i++) await put(`best.${i}`, state.bestWeights[i]);
  const optimizers: Header['optimizers'] = [];
  for (let g = 0; g < state.optimizers.length; g++) {
    const opt = state.optimizers[g];
    const [iter, ...slots] = await opt.getWeights();
    const iterations = (await iter.tensor.data())[0];
    iter.tensor.dispose();
    for (let j = 0; j < slots.length; j++) await put(`opt${g}.${j}`, slots[j].tensor);
    const a = opt as unknown as AdamInternals;
    const betaPowers: [number, number] | undefined = a.accBeta1 && a.accBeta2 ? [(await a.accBeta1.data())[0], (await a.accBeta2.data())[0]] : undefined;
    optimizers.push({ iterations, slots: slots.length, ...(betaPowers ? { betaPowers } : {}) });
  }
  const header: Header = {
    format: FORMAT,
    version: VERSION,
    tag: opts.tag ?? '',
    fingerprint,
    progress: { ...progress, best: { score: Number.isFinite(progress.best.score) ? progress.best.score : null, epoch: progress.best.epoch } },
    weights: weightList(state),
    hasBest: !!state.bestWeights,
    optimizers,
  };
  writeFileAtomic(opts.path, writeSafetensors(tensors, { [FORMAT]: JSON.stringify(header) }));
}

function readHeader(file: string): { header: Header; buf: Buffer } {
  let buf: Buffer;
  let meta: Record<string, string>;
  try {
    buf = fs.readFileSync(file);
    meta = parseSafetensorsHeader(buf, file).metadata;
  } catch (e) {
    throw new Error(`${file}: not a readable graft checkpoint (${(e as Error).message})`);
  }
  if (!meta[FORMAT]) throw new Error(`${file}: not a graft checkpoint (a safetensors file without graft's training state)`);
  const header = JSON.parse(meta[FORMAT]) as Header;
  if (header.version !== VERSION) throw new Error(`${file}: checkpoint format version ${header.version}; this graft reads version ${VERSION}`);
  return { header, buf };
}

/** Differences between two fingerprints, as "key: here vs there" phrases. */
export function fingerprintDiff(here: Record<string, unknown>, there: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(here), ...Object.keys(there)])];
  const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v).slice(0, 80));
  return keys.filter((k) => JSON.stringify(here[k]) !== JSON.stringify(there[k])).map((k) => `${k} ${show(here[k])} now vs ${show(there[k])} in the checkpoint`);
}

/**
 * Restore `state` from the checkpoint at `opts.path` and return the progress it holds, or
 * undefined when there is no file. `state.optimizers` must be freshly made (no slots yet).
 * Returns the best-epoch weights as new tensors (the caller owns them).
 */
export async function loadCheckpoint(
  opts: CheckpointOptions,
  fingerprint: Record<string, unknown>,
  state: Omit<TrainState, 'bestWeights'>,
): Promise<{ progress: TrainProgress; bestWeights?: tf.Tensor[] } | undefined> {
  const file = opts.path;
  if (!fs.existsSync(file)) return undefined;
  const { header, buf } = readHeader(file);
  const tag = opts.tag ?? '';
  if (header.tag !== tag) throw new Error(`${file}: this checkpoint belongs to "${header.tag}", not to "${tag}"`);
  const here = weightList(state);
  const there = header.weights;
  if (here.length !== there.length) throw new Error(`${file}: checkpoint of another model (${there.length} weight tensors there, ${here.length} here)`);
  here.forEach((w, i) => {
    const t = there[i];
    if (w.name !== t.name || w.shape.join() !== t.shape.join()) {
      throw new Error(`${file}: checkpoint of another model: weight ${i} is ${t.name} [${t.shape}] there, ${w.name} [${w.shape}] here`);
    }
  });
  const diff = fingerprintDiff(fingerprint, header.fingerprint);
  if (diff.length) throw new Error(`${file}: checkpoint written with other training options or data: ${diff.join('; ')}`);
  if (header.optimizers.length !== state.optimizers.length) {
    throw new Error(`${file}: checkpoint has ${header.optimizers.length} parameter groups, this run has ${state.optimizers.length}`);
  }
  const tensors = readSafetensors(buf, file);
  const get = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${file}: checkpoint is missing tensor ${name}`);
    return tf.tensor(t.data, t.shape);
  };
  const all = here.map((_, i) => get(`model.${i}`));
  let at = 0;
  for (const m of networks(state)) {
    m.setWeights(all.slice(at, at + m.weights.length));
    at += m.weights.length;
  }
  tf.dispose(all);
  for (let g = 0; g < header.optimizers.length; g++) {
    const o = header.optimizers[g];
    if (o.slots === 0) continue;
    const slots = Array.from({ length: o.slots }, (_, j) => ({ name: `opt${g}.${j}`, tensor: get(`opt${g}.${j}`) }));
    const iter = { name: 'iter', tensor: tf.scalar(o.iterations, 'int32') };
    await state.optimizers[g].setWeights([iter, ...slots]);
    tf.dispose([iter.tensor, ...slots.map((s) => s.tensor)]);
    const a = state.optimizers[g] as unknown as AdamInternals;
    if (o.betaPowers && a.accBeta1 && a.accBeta2) {
      const [b1, b2] = o.betaPowers;
      tf.tidy(() => {
        a.accBeta1!.assign(tf.scalar(b1));
        a.accBeta2!.assign(tf.scalar(b2));
      });
    }
  }
  const bestWeights = header.hasBest ? state.model.weights.map((_, i) => get(`best.${i}`)) : undefined;
  const p = header.progress;
  return { progress: { ...p, best: { score: p.best.score ?? -Infinity, epoch: p.best.epoch } }, bestWeights };
}

/** Tag and progress of a checkpoint file without loading it into a model (e.g. to report a resume). */
export function peekCheckpoint(file: string): { tag: string; progress: TrainProgress } | undefined {
  if (!fs.existsSync(file)) return undefined;
  const { header } = readHeader(file);
  const p = header.progress;
  return { tag: header.tag, progress: { ...p, best: { score: p.best.score ?? -Infinity, epoch: p.best.epoch } } };
}

/** What a checkpoint must agree on to continue a run: options, parameter groups, data, objective. */
export function runFingerprint(model: tfl.LayersModel, o: TrainerOptions, train: BatchSource, val: BatchSource | undefined): Record<string, unknown> {
  const mults = model.trainableWeights.map((w) => [w.originalName, o.lrMultiplier ? o.lrMultiplier(w.originalName) : 1] as const);
  const count = new Map<number, number>();
  for (const [, m] of mults) count.set(m, (count.get(m) ?? 0) + 1);
  const rows = (d: BatchSource) => `${d.n}×${d.dim}, labels crc32 ${crc32(new Uint8Array(d.y.buffer, d.y.byteOffset, d.y.byteLength))}`;
  return {
    optimizer: o.optimizer,
    lr: o.lr,
    lrAt: o.lrAt ? 'custom' : undefined,
    epochs: o.epochs,
    batchSize: o.batchSize,
    schedule: o.schedule,
    weightDecay: o.weightDecay,
    momentum: o.momentum,
    labelSmoothing: o.labelSmoothing,
    classWeights: o.classWeights,
    patience: o.patience,
    monitor: o.monitor,
    restoreBest: o.restoreBest,
    seed: o.seed,
    lrMultipliers: `${[...count].map(([m, c]) => `${c} at ×${m}`).join(', ')} (crc32 ${crc32(JSON.stringify(mults))})`,
    train: rows(train),
    val: val ? rows(val) : 'none',
    ...(o.objective ? { objective: o.objective.name, ...o.objective.fingerprint } : {}),
  };
}
