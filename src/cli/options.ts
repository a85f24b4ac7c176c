/**
 * Option groups shared by several commands, each option with its help text and the default the
 * recipes really use (src/recipes/*, src/train/*, src/data/split.ts), and the converters from
 * parsed values to recipe options. Options only one command reads live in its own file.
 */
import { num, str, list, type Values } from './args.js';
import { withOverrides } from '../models/file-ref.js';
import type { OptionTable } from './spec.js';
import { QUEUE } from './remote.js';

export const COMMON: OptionTable = {
  json: { type: 'boolean', help: 'exactly one JSON object on stdout (logs, progress: stderr)' },
  quiet: { type: 'boolean', short: 'q', help: 'no progress or info lines (warnings and errors still)' },
  strict: { type: 'boolean', help: 'a bad image file is an error, not skipped' },
  help: { type: 'boolean', short: 'h', help: 'this page' },
};

export const ENGINE: OptionTable = {
  engine: { type: 'string', arg: 'ort|tfjs', default: 'ort', help: 'runs the frozen backbone: onnxruntime, or tfjs wasm' },
  threads: { type: 'string', arg: 'N', default: 'all cores', help: 'onnxruntime intra-op threads' },
  ...QUEUE,
};

export const DATA: OptionTable = {
  'val-percent': { type: 'string', arg: 'P', default: '10', help: 'validation share, by a hash of each path (DATA/val/ wins)' },
  'test-percent': { type: 'string', arg: 'P', default: '10', help: 'test share, same stable split (DATA/test/ wins)' },
  classes: { type: 'string', arg: 'a,b,c', default: 'all', help: 'use only these classes' },
  'limit-per-class': { type: 'string', arg: 'N', help: 'at most N images per class' },
};

/** A folder of sound files: the log-mel front-end (src/audio/frontend.ts AUDIO_DEFAULTS). */
export const AUDIO: OptionTable = {
  'sample-rate': { type: 'string', arg: 'HZ', default: '16000', help: 'sounds: resampled to this rate' },
  'n-fft': { type: 'string', arg: 'N', default: '400', help: 'sounds: FFT / window length (samples)' },
  hop: { type: 'string', arg: 'N', default: '160', help: 'sounds: hop between frames (samples)' },
  'n-mels': { type: 'string', arg: 'N', default: '128', help: 'sounds: mel bands' },
  fmin: { type: 'string', arg: 'HZ', default: '0', help: 'sounds: lowest mel edge' },
  fmax: { type: 'string', arg: 'HZ', default: 'sample-rate/2', help: 'sounds: highest mel edge' },
  duration: { type: 'string', arg: 'S|auto', default: '1.0', help: 'sounds: clip length, centred pad/crop; auto: median training file' },
};

function durationOpt(v: Values): number | 'auto' | undefined {
  if (v.duration === 'auto') return 'auto';
  if (typeof v.duration === 'string' && !Number.isFinite(Number(v.duration))) throw new Error(`--duration expects seconds or auto, got "${v.duration}"`);
  return num(v, 'duration');
}

/** The AUDIO flags given (undefined: none, the front-end's defaults apply). */
export function audioOpts(v: Values) {
  const fe = { sampleRate: num(v, 'sample-rate'), nFft: num(v, 'n-fft'), hop: num(v, 'hop'), nMels: num(v, 'n-mels'), fmin: num(v, 'fmin'), fmax: num(v, 'fmax'), duration: durationOpt(v) };
  const given = Object.fromEntries(Object.entries(fe).filter(([, x]) => x !== undefined));
  return Object.keys(given).length ? given : undefined;
}

export const MODEL: OptionTable = {
  backbone: { type: 'string', short: 'b', arg: 'NAME|FILE', default: 'mobilenet_v2', help: 'a graft zoo name, or ./model.json, ./net.onnx, https://…' },
  weights: { type: 'string', arg: 'FILE|imagenet', default: "the backbone's", help: 'a .pth or .safetensors file, or imagenet' },
  'input-size': { type: 'string', arg: 'H[xW]', default: "the file's", help: 'model files: input size' },
  mean: { type: 'string', arg: 'M[,M,M]', default: "the file's", help: 'model files: mean of pixels in [0,1]' },
  std: { type: 'string', arg: 'S[,S,S]', default: "the file's", help: 'model files: std the pixels are divided by' },
  resize: { type: 'string', arg: 'squash|center-crop', default: "the file's", help: 'model files: how images fit the input' },
};

/** --from and --report: shared by the recipes that train and save a bundle (src/recipes/run.ts). */
export const RUN: OptionTable = {
  from: { type: 'string', arg: 'BUNDLE', help: "a trained bundle's network (minus its classifier) as the backbone" },
  report: { type: 'string', arg: 'DIR', help: 'also write a self-contained report.html + PNG plots' },
};

/** --search and --trials (src/train/search.ts). */
export const SEARCH: OptionTable = {
  search: { type: 'string', arg: 'grid|random', help: 'pick lr × weight decay on val: grid {1e-3,3e-3,1e-2}×{1e-4,1e-2,5e-2} or random' },
  trials: { type: 'string', arg: 'N', default: '8', help: '--search random: draws (log-uniform lr 1e-4…3e-2, wd 1e-5…1e-1)' },
};

/** The head trained on frozen features (src/recipes/train.ts fitHead; src/train/trainer.ts defaults). */
/** The two folders of a domain-adaptation command (adapt, disentangle). */
export const DOMAINS: OptionTable = {
  source: { type: 'string', arg: 'DIR', help: 'labelled source images: DIR/<class>/*.png (required)' },
  target: { type: 'string', arg: 'DIR', help: 'target images: a flat folder, or class folders whose names are ignored for training (required)' },
  'target-test': { type: 'string', arg: 'DIR', help: 'labelled target images, for evaluation only (oracle numbers)' },
};

export const HEAD: OptionTable = {
  head: { type: 'string', arg: 'linear|mlp|prototype', default: 'linear', help: 'the classifier on the features (prototype: see add-class)' },
  hidden: { type: 'string', arg: 'N[,N…]', default: '512', help: 'mlp: hidden layer widths' },
  dropout: { type: 'string', arg: 'P', default: '0.5', help: 'mlp: dropout' },
  optimizer: { type: 'string', arg: 'lbfgs|adam|adamw|sgd', default: 'linear: lbfgs, mlp: adamw', help: 'full-batch L-BFGS, or minibatch' },
  lr: { type: 'string', arg: 'LR', default: '1e-3', help: 'peak learning rate, cosine schedule (not L-BFGS)' },
  epochs: { type: 'string', arg: 'N', default: 'lbfgs: 200 iterations, else 30', help: 'training epochs' },
  'batch-size': { type: 'string', arg: 'N', default: '64', help: 'minibatch size (not L-BFGS)' },
  'weight-decay': { type: 'string', arg: 'WD', default: 'lbfgs: picked on val, 1e-1…1e-4; adamw: 5e-2; else 0', help: 'L2 / weight decay' },
  'label-smoothing': { type: 'string', arg: 'E', default: '0', help: 'cross-entropy label smoothing' },
  'class-weights': { type: 'string', arg: 'balanced', help: 'loss weighted by inverse class frequency' },
  patience: { type: 'string', arg: 'N', default: 'lbfgs: 0, else 8; --search: 5', help: 'early stopping on val accuracy' },
  seed: { type: 'string', arg: 'N', default: '0', help: 'init and shuffling seed' },
};

export function dataOpts(v: Values) {
  return {
    valPercent: num(v, 'val-percent'),
    testPercent: num(v, 'test-percent'),
    classes: list(v, 'classes'),
    limitPerClass: num(v, 'limit-per-class'),
    strict: !!v.strict,
    audio: audioOpts(v),
  };
}

export function engineOpts(v: Values) {
  return { engine: str(v, 'engine', ['ort', 'tfjs'] as const), threads: num(v, 'threads') };
}

/** --backbone with the model-file flags folded in (--input-size, --mean, --std, --resize), --weights. */
export function modelOpts(v: Values) {
  return { backbone: withOverrides(str(v, 'backbone'), v), weights: str(v, 'weights') };
}

/** What every bundle-training recipe takes (RunOptions without data/out) plus the shared training knobs. */
export function fitOpts(v: Values) {
  return {
    ...dataOpts(v),
    ...engineOpts(v),
    ...modelOpts(v),
    dropout: num(v, 'dropout'),
    lr: num(v, 'lr'),
    epochs: num(v, 'epochs'),
    batchSize: num(v, 'batch-size'),
    weightDecay: num(v, 'weight-decay'),
    labelSmoothing: num(v, 'label-smoothing'),
    patience: num(v, 'patience'),
    seed: num(v, 'seed'),
    from: str(v, 'from'),
    report: str(v, 'report'),
    search: str(v, 'search', ['grid', 'random'] as const),
    searchTrials: num(v, 'trials'),
  };
}

/** graft train / demo: fitOpts plus the head's own. */
export function trainOpts(v: Values) {
  return {
    ...fitOpts(v),
    head: str(v, 'head', ['linear', 'mlp', 'prototype'] as const),
    hidden: list(v, 'hidden')?.map(Number),
    optimizer: str(v, 'optimizer', ['lbfgs', 'adam', 'adamw', 'sgd'] as const),
    classWeights: str(v, 'class-weights', ['balanced'] as const),
  };
}
