#!/usr/bin/env node
/**
 * The graft command line. Every command takes --json and then prints exactly one JSON object on
 * stdout; logs, warnings and progress go to stderr. Errors: one line, non-zero exit.
 */
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import { makeReporter, type Reporter } from '../util/log.js';
import { num, str, list, type Values } from './args.js';
import { GRAFT_VERSION } from '../version.js';
import { cleanupPendingDirs } from '../util/fs.js';
import { withOverrides } from '../models/file-ref.js';
import type { RunResult } from '../recipes/run.js';
import type { Evaluation } from '../eval/metrics.js';

const COMMON = {
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  strict: { type: 'boolean' },
  engine: { type: 'string' },
  threads: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const DATA = {
  'val-percent': { type: 'string' },
  'test-percent': { type: 'string' },
  classes: { type: 'string' },
  'limit-per-class': { type: 'string' },
} as const;

const TRAIN = {
  out: { type: 'string', short: 'o' },
  backbone: { type: 'string', short: 'b' },
  weights: { type: 'string' },
  head: { type: 'string' },
  hidden: { type: 'string' },
  dropout: { type: 'string' },
  optimizer: { type: 'string' },
  lr: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  'weight-decay': { type: 'string' },
  'label-smoothing': { type: 'string' },
  'class-weights': { type: 'string' },
  patience: { type: 'string' },
  seed: { type: 'string' },
  from: { type: 'string' },
  freeze: { type: 'string' },
  search: { type: 'string' },
  trials: { type: 'string' },
} as const;

const TRANSFER = {
  source: { type: 'string' },
  target: { type: 'string' },
  'source-classes': { type: 'string' },
  'target-classes': { type: 'string' },
  'source-limit-per-class': { type: 'string' },
  'target-limit-per-class': { type: 'string' },
  'source-unfreeze': { type: 'string' },
  'source-epochs': { type: 'string' },
  'source-freeze-epochs': { type: 'string' },
  'source-lr': { type: 'string' },
  baseline: { type: 'boolean' },
  onnx: { type: 'string' },
  budgets: { type: 'string' },
  repeats: { type: 'string' },
  methods: { type: 'string' },
  'scratch-size': { type: 'string' },
  report: { type: 'string' },
  logits: { type: 'boolean' },
  opset: { type: 'string' },
} as const;

const USAGE = `graft ${GRAFT_VERSION} — transfer learning for images (pretrained CNN features + a trained head)

usage:
  graft demo [--out DIR] [--per-class N]          offline demo: MNIST digits from the mnist package
  graft train DATA --out DIR [options]            DATA/<class>/*.jpg or DATA/{train,val,test}/<class>/
  graft finetune DATA --out DIR [--unfreeze K | --cut BLOCK] [--epochs N]   fine-tune the last blocks + a new head
  graft train DATA --from BUNDLE --freeze all --out DIR   a trained bundle's network, frozen, under a new head
  graft transfer --source DATA --target DATA --out DIR [--target-classes a,b] [--source-unfreeze K] [--baseline]
                                                  the two-stage recipe: fine-tune on source, new head on target
  graft compare DATA --out DIR [--budgets 5,10,25,50,100,all] [--repeats 3] [--methods scratch,linear,finetune]
                                                  transfer vs scratch over label budgets → report.html + plots
  graft export BUNDLE --onnx FILE [--logits]      the whole network as one ONNX classifier (checked ≤1e-4 vs graft)
  graft lr-find DATA [--plot lr.png] [--unfreeze K]   LR range test (MLP head, or the fine-tuning network); suggests a learning rate
  graft eval BUNDLE DATA                          accuracy, per-class P/R/F1, confusion matrix
  graft predict BUNDLE IMAGE... [--top K]         top-k labels with probabilities
  graft extract DATA --out FILE [--format npy|json|csv] [--backbone NAME] [--weights W] [--layer L]
  graft extract --tensor X.npy --out FILE [--layer logits|features|BLOCK]   preprocessed [N,H,W,3] float32 in
  graft zoo [show NAME]                           backbones, input sizes, feature dims, provenance
  graft data get cifar10|cifar100|mnist|fashion-mnist   official archives into $GRAFT_HOME/datasets

common options:  --json (one JSON object on stdout)  --quiet  --strict (bad files are errors)
                 --engine ort|tfjs  --threads N
data options:    --val-percent 10 --test-percent 10 --classes a,b,c --limit-per-class N
model files:     --backbone ./model.json|./net.onnx|https://…/model.json  [--input-size H[xW] --mean M --std S --resize squash|center-crop]
train options:   --backbone NAME (graft zoo)  --weights FILE|imagenet  --head linear|mlp  --hidden 512,256
                 --dropout 0.5  --optimizer lbfgs|adam|adamw|sgd  --lr  --epochs  --batch-size
                 --weight-decay (default for linear: chosen on validation)  --label-smoothing
                 --class-weights balanced  --patience  --seed  --from BUNDLE (with --freeze all)
                 --report DIR (self-contained report.html + PNG plots; also for finetune)
                 --search grid|random [--trials 8]  LR × weight decay on validation (linear: its L2 grid)
finetune options: --unfreeze 2  --cut BLOCK  --epochs 6  --freeze-epochs 2  --lr 1e-2  --lr-body
                 --batch-size 32  --dropout 0.2  --train-bn  --gradual (ULMFiT: unfreeze one more block per epoch)
                 --augment N (N cached views per image: flip, crops; one per epoch)  (cut activations are cached: epochs cost only the tail)
                 --unfreeze all (the whole network from the pixels, nothing cached; slow on a CPU)
                 --checkpoint DIR (default OUT.ckpt, written every epoch)  --resume (continue after Ctrl-C)
`;

function dataOpts(v: Values) {
  return {
    valPercent: num(v, 'val-percent'),
    testPercent: num(v, 'test-percent'),
    classes: list(v, 'classes'),
    limitPerClass: num(v, 'limit-per-class'),
    strict: !!v.strict,
  };
}

function engineOpts(v: Values) {
  return { engine: str(v, 'engine', ['ort', 'tfjs'] as const), threads: num(v, 'threads') };
}

function trainOpts(v: Values) {
  return {
    ...dataOpts(v),
    ...engineOpts(v),
    backbone: withOverrides(str(v, 'backbone'), v),
    weights: str(v, 'weights'),
    head: str(v, 'head', ['linear', 'mlp'] as const),
    hidden: list(v, 'hidden')?.map(Number),
    dropout: num(v, 'dropout'),
    optimizer: str(v, 'optimizer', ['lbfgs', 'adam', 'adamw', 'sgd'] as const),
    lr: num(v, 'lr'),
    epochs: num(v, 'epochs'),
    batchSize: num(v, 'batch-size'),
    weightDecay: num(v, 'weight-decay'),
    labelSmoothing: num(v, 'label-smoothing'),
    classWeights: str(v, 'class-weights', ['balanced'] as const),
    patience: num(v, 'patience'),
    seed: num(v, 'seed'),
    from: str(v, 'from'),
    report: str(v, 'report'),
    search: str(v, 'search', ['grid', 'random'] as const),
    searchTrials: num(v, 'trials'),
  };
}

const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(2)}%`);

function emit(json: boolean, obj: unknown, human: () => string): void {
  if (json) process.stdout.write(JSON.stringify(obj) + '\n');
  else process.stdout.write(human() + '\n');
}

function skippedSummary(skipped: { file: string; reason: string }[]): string {
  if (!skipped.length) return '';
  const head = skipped.slice(0, 20).map((s) => `  ${s.file}: ${s.reason}`);
  if (skipped.length > 20) head.push(`  … and ${skipped.length - 20} more`);
  return `\nskipped ${skipped.length} file(s):\n${head.join('\n')}`;
}

async function cmdTrain(pos: string[], v: Values, r: Reporter, demo = false): Promise<void> {
  const { trainClassifier } = await import('../recipes/train.js');
  const { runDemo } = await import('../recipes/demo.js');
  const { formatEvaluation } = await import('../eval/metrics.js');
  let res;
  if (demo) {
    res = await runDemo({ ...trainOpts(v), out: str(v, 'out'), perClass: num(v, 'per-class'), reporter: r });
  } else {
    if (pos.length !== 1) throw new Error('usage: graft train DATA --out DIR');
    const freeze = str(v, 'freeze');
    if (freeze !== undefined && freeze !== 'all') {
      throw new Error(`graft train always keeps the whole network frozen (--freeze all); to unfreeze blocks use graft finetune --unfreeze K`);
    }
    const out = str(v, 'out');
    if (!out) throw new Error('graft train needs --out DIR for the bundle');
    res = await trainClassifier({ ...trainOpts(v), data: pos[0], out, reporter: r });
  }
  const summary = {
    bundle: res.bundle,
    labels: res.labels,
    backbone: res.backbone,
    data: res.data,
    features: res.features,
    head: res.head,
    val: res.val && { accuracy: res.val.accuracy, macroF1: res.val.macroF1, n: res.val.n },
    test: res.test && { accuracy: res.test.accuracy, macroF1: res.test.macroF1, n: res.test.n, topK: res.test.topK, perClass: res.test.perClass, confusion: res.test.confusion, mostConfused: res.test.mostConfused },
    history: res.history,
    seconds: res.seconds,
    peakRssMB: res.peakRssMB,
    ...(res.report ? { report: res.report } : {}),
    ...('images' in res ? { images: (res as { images: string }).images } : {}),
  };
  emit(!!v.json, summary, () => runReport(res, `trained ${res.head.kind} head on ${res.backbone.name} (${res.backbone.dim}-d features)`, 'features', formatEvaluation));
}

/** Human-readable report of a training recipe's result. */
function runReport(res: RunResult, headline: string, rows: string, formatEvaluation: (e: Evaluation) => string): string {
  return [
    `${headline}: ${res.data.train} train / ${res.data.val} val / ${res.data.test} test images`,
    `${rows}: ${res.features.computed} computed, ${res.features.cached} cached`,
    `val accuracy ${pct(res.val?.accuracy)}   test accuracy ${pct(res.test?.accuracy)}   time ${res.seconds.toFixed(1)} s`,
    res.test ? `\ntest set:\n${formatEvaluation(res.test)}` : '',
    `\nbundle: ${res.bundle}`,
    skippedSummary(res.data.skipped),
  ].join('\n');
}

async function cmdFinetune(pos: string[], v: Values, r: Reporter): Promise<void> {
  if (pos.length !== 1) throw new Error('usage: graft finetune DATA --out DIR [--unfreeze K]');
  const out = str(v, 'out');
  if (!out) throw new Error('graft finetune needs --out DIR for the bundle');
  const { finetuneClassifier } = await import('../recipes/finetune.js');
  const { formatEvaluation } = await import('../eval/metrics.js');
  const t = trainOpts(v);
  const res = await finetuneClassifier({
    ...t,
    data: pos[0],
    out,
    unfreeze: v.unfreeze === 'all' ? 'all' : num(v, 'unfreeze'),
    cut: str(v, 'cut'),
    checkpoint: str(v, 'checkpoint'),
    resume: !!v.resume,
    freezeEpochs: num(v, 'freeze-epochs'),
    lrBody: num(v, 'lr-body'),
    trainBn: !!v['train-bn'],
    gradual: !!v.gradual,
    augment: num(v, 'augment'),
    reporter: r,
  });
  const { testProbabilities: _omit, ...summary } = res;
  void _omit;
  emit(!!v.json, summary, () =>
    runReport(res, `fine-tuned ${res.tail.blocks} block(s) of ${res.backbone.name} from ${res.tail.cut} (${res.tail.trainableParams} trainable parameters)`, 'cut activations', formatEvaluation),
  );
}

async function cmdLrFind(pos: string[], v: Values, r: Reporter): Promise<void> {
  if (pos.length !== 1) throw new Error('usage: graft lr-find DATA [--plot FILE.png]');
  const { lrFindRecipe } = await import('../recipes/lr-find.js');
  const t = trainOpts(v);
  const unfreeze = num(v, 'unfreeze');
  const res = await lrFindRecipe({ ...t, data: pos[0], plot: str(v, 'plot'), steps: num(v, 'steps'), unfreeze, cut: str(v, 'cut'), reporter: r });
  const out = { suggested: res.suggested, steepest: res.steepest, minimumOver10: res.minimumOver10, diverged: res.diverged, plot: res.plot, images: res.images, points: res.lrs.map((lr, i) => ({ lr, loss: res.losses[i] })) };
  emit(!!v.json, out, () => `suggested learning rate ${res.suggested.toExponential(2)} (steepest descent; minimum/10: ${res.minimumOver10.toExponential(2)})` + (res.plot ? `\nplot: ${res.plot}` : ''));
}

async function cmdEval(pos: string[], v: Values, r: Reporter): Promise<void> {
  if (pos.length !== 2) throw new Error('usage: graft eval BUNDLE DATA');
  const { evaluateBundle } = await import('../recipes/evaluate.js');
  const { formatEvaluation } = await import('../eval/metrics.js');
  const res = await evaluateBundle(pos[0], pos[1], { ...dataOpts(v), ...engineOpts(v), reporter: r });
  emit(!!v.json, res, () => formatEvaluation(res) + skippedSummary(res.skipped));
}

async function cmdPredict(pos: string[], v: Values, r: Reporter): Promise<void> {
  if (pos.length < 2) throw new Error('usage: graft predict BUNDLE IMAGE...');
  const { Classifier } = await import('../recipes/predict.js');
  const clf = await Classifier.load(pos[0], engineOpts(v));
  try {
    const { predictions, skipped } = await clf.predictFiles(pos.slice(1), { topK: num(v, 'top') ?? 5, reporter: r, strict: !!v.strict });
    emit(!!v.json, { predictions, skipped }, () =>
      predictions.map((p) => `${p.file}: ${p.label}  (` + p.top.map((t) => `${t.label} ${(100 * t.probability).toFixed(1)}%`).join(', ') + ')').join('\n') + skippedSummary(skipped),
    );
    if (!predictions.length) process.exitCode = 1;
  } finally {
    await clf.dispose();
  }
}

async function cmdExtract(pos: string[], v: Values, r: Reporter): Promise<void> {
  const out = str(v, 'out');
  if (!out) throw new Error('graft extract needs --out FILE');
  const { extractFolder, extractTensor } = await import('../recipes/extract.js');
  const tensor = str(v, 'tensor');
  if (tensor) {
    if (pos.length) throw new Error('graft extract: give DATA or --tensor FILE.npy, not both');
    const res = await extractTensor({ ...engineOpts(v), tensor, out, format: str(v, 'format', ['npy', 'json', 'csv'] as const), backbone: withOverrides(str(v, 'backbone'), v), weights: str(v, 'weights'), layer: str(v, 'layer') });
    emit(!!v.json, res, () => `wrote ${res.n}×${res.dim} ${res.backbone} outputs (${res.layer}) of ${tensor} to ${res.out}`);
    return;
  }
  if (pos.length !== 1) throw new Error('usage: graft extract DATA --out FILE  |  graft extract --tensor FILE.npy --out FILE');
  const res = await extractFolder({ ...dataOpts(v), ...engineOpts(v), data: pos[0], out, format: str(v, 'format', ['npy', 'json', 'csv'] as const), backbone: withOverrides(str(v, 'backbone'), v), weights: str(v, 'weights'), layer: str(v, 'layer'), reporter: r });
  emit(!!v.json, res, () => `wrote ${res.n}×${res.dim} ${res.backbone} features (${res.layer}) to ${res.out}; ${res.features.computed} computed, ${res.features.cached} cached` + skippedSummary(res.skipped));
}

async function cmdZoo(pos: string[], v: Values): Promise<void> {
  const { zooTable, zooEntry } = await import('../recipes/zoo.js');
  if (pos[0] === 'show') {
    if (!pos[1]) throw new Error('usage: graft zoo show NAME');
    const e = await zooEntry(withOverrides(pos[1], v)!);
    emit(!!v.json, e, () => Object.entries(e).map(([k, x]) => `${k}: ${Array.isArray(x) ? x.join(', ') : typeof x === 'object' ? JSON.stringify(x) : String(x)}`).join('\n'));
    return;
  }
  const rows = await zooTable();
  emit(!!v.json, { models: rows }, () =>
    rows.map((m) => `${m.name.padEnd(27)} ${m.input.join('×').padEnd(8)} ${String(m.featureDim).padStart(5)}-d  ${(m.params / 1e6).toFixed(2)}M params  ${m.weights}\n  ${m.provenance}`).join('\n'),
  );
}

async function cmdData(pos: string[], v: Values, r: Reporter): Promise<void> {
  const { dataGet, DATASET_NAMES } = await import('../recipes/data-get.js');
  const names = DATASET_NAMES as readonly string[];
  if (pos[0] !== 'get' || !pos[1] || !names.includes(pos[1])) throw new Error(`usage: graft data get ${names.join('|')}`);
  const res = await dataGet(pos[1] as Parameters<typeof dataGet>[0], { reporter: r });
  emit(!!v.json, res, () => `${res.name}: ${res.dir} (${res.from === 'download' ? 'downloaded' : res.from === 'system' ? 'system copy' : 'already present'}, ${res.files.length} files)`);
}

async function cmdTransfer(pos: string[], v: Values, r: Reporter): Promise<void> {
  const source = str(v, 'source');
  const target = str(v, 'target');
  const out = str(v, 'out');
  if (pos.length || !source || !target || !out) throw new Error('usage: graft transfer --source DATA --target DATA --out DIR [--target-classes a,b,c]');
  const { transferRecipe } = await import('../recipes/transfer.js');
  const res = await transferRecipe({
    source,
    target,
    out,
    sourceClasses: list(v, 'source-classes'),
    targetClasses: list(v, 'target-classes'),
    sourceLimitPerClass: num(v, 'source-limit-per-class'),
    targetLimitPerClass: num(v, 'target-limit-per-class'),
    backbone: withOverrides(str(v, 'backbone'), v),
    weights: str(v, 'weights'),
    sourceUnfreeze: num(v, 'source-unfreeze'),
    sourceEpochs: num(v, 'source-epochs'),
    sourceFreezeEpochs: num(v, 'source-freeze-epochs'),
    sourceLr: num(v, 'source-lr'),
    targetHead: str(v, 'head', ['linear', 'mlp'] as const),
    baseline: !!v.baseline,
    valPercent: num(v, 'val-percent'),
    testPercent: num(v, 'test-percent'),
    seed: num(v, 'seed'),
    strict: !!v.strict,
    ...engineOpts(v),
    reporter: r,
  });
  const { runs: _runs, ...summary } = res;
  void _runs;
  const line = (name: string, s: typeof res.source) =>
    `${name.padEnd(8)} ${s.labels.length} classes, ${s.images.train}/${s.images.val}/${s.images.test} images  val ${pct(s.val?.accuracy)}  test ${pct(s.test?.accuracy)}  ${s.seconds.toFixed(1)} s  → ${s.bundle}`;
  emit(!!v.json, summary, () =>
    [line('source', res.source), line('target', res.target), res.baseline ? line('baseline', res.baseline) : '', `summary: ${res.summary}`].filter(Boolean).join('\n'),
  );
}

async function cmdCompare(pos: string[], v: Values, r: Reporter): Promise<void> {
  const out = str(v, 'out');
  if (pos.length !== 1 || !out) throw new Error('usage: graft compare DATA --out DIR [--budgets 5,25,all] [--repeats N]');
  const { compareRecipe, COMPARE_METHODS } = await import('../recipes/compare.js');
  const budgets = list(v, 'budgets')?.map((b) => {
    if (b === 'all') return 'all' as const;
    const n = Number(b);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--budgets: "${b}" is not a positive integer or "all"`);
    return n;
  });
  const methods = list(v, 'methods')?.map((m) => {
    if (!(COMPARE_METHODS as readonly string[]).includes(m)) throw new Error(`--methods: unknown method "${m}"; known: ${COMPARE_METHODS.join(', ')}`);
    return m as (typeof COMPARE_METHODS)[number];
  });
  const res = await compareRecipe({
    ...dataOpts(v),
    ...engineOpts(v),
    data: pos[0],
    out,
    budgets,
    methods,
    repeats: num(v, 'repeats'),
    backbone: str(v, 'backbone'),
    weights: str(v, 'weights'),
    from: str(v, 'from'),
    unfreeze: num(v, 'unfreeze'),
    scratchSize: num(v, 'scratch-size'),
    seed: num(v, 'seed'),
    reporter: r,
  });
  const { runs: _runs, ...summary } = res;
  void _runs;
  emit(!!v.json, summary, () =>
    [
      `${'method'.padEnd(9)} ${'budget'.padStart(6)}  accuracy (mean ± std)   seconds`,
      ...res.points.map((p) => `${p.method.padEnd(9)} ${p.label.padStart(6)}  ${pct(p.accuracy).padStart(7)} ± ${(100 * p.std).toFixed(2).padStart(5)}      ${p.seconds.toFixed(1).padStart(6)}`),
      `report: ${res.report}`,
    ].join('\n'),
  );
}

async function cmdExport(pos: string[], v: Values): Promise<void> {
  const file = str(v, 'onnx');
  if (pos.length !== 1 || !file) throw new Error('usage: graft export BUNDLE --onnx FILE [--logits] [--opset N]');
  const { exportOnnx } = await import('../recipes/export.js');
  const res = await exportOnnx(pos[0], file, { output: v.logits ? 'logits' : 'probabilities', opset: num(v, 'opset') });
  emit(!!v.json, res, () =>
    `wrote ${res.file} (${(res.bytes / 1e6).toFixed(1)} MB): input "input" float32 [${res.input.shape.join(', ')}] preprocessed as ${JSON.stringify(res.input.preprocess)}, ` +
    `output "${res.output.name}" [N, ${res.output.classes}]; labels in metadata "graft.labels"; max |ONNX − graft| on a probe batch ${res.maxAbsDiff.toExponential(1)}`,
  );
}

/** Every subcommand: positionals, option values, reporter. */
const COMMANDS: Record<string, (pos: string[], v: Values, r: Reporter) => Promise<void>> = {
  train: (p, v, r) => cmdTrain(p, v, r),
  demo: (p, v, r) => cmdTrain(p, v, r, true),
  finetune: cmdFinetune,
  'lr-find': cmdLrFind,
  eval: cmdEval,
  predict: cmdPredict,
  extract: cmdExtract,
  zoo: (p, v) => cmdZoo(p, v),
  data: cmdData,
  transfer: cmdTransfer,
  compare: cmdCompare,
  export: (p, v) => cmdExport(p, v),
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd === '--version' || cmd === 'version') {
    process.stdout.write(GRAFT_VERSION + '\n');
    return 0;
  }
  const options = { ...COMMON, ...DATA, ...TRAIN, ...TRANSFER, top: { type: 'string' }, unfreeze: { type: 'string' }, cut: { type: 'string' }, 'freeze-epochs': { type: 'string' }, 'lr-body': { type: 'string' }, 'train-bn': { type: 'boolean' }, gradual: { type: 'boolean' }, augment: { type: 'string' }, checkpoint: { type: 'string' }, resume: { type: 'boolean' }, format: { type: 'string' }, tensor: { type: 'string' }, plot: { type: 'string' }, steps: { type: 'string' }, layer: { type: 'string' }, 'per-class': { type: 'string' }, 'input-size': { type: 'string' }, mean: { type: 'string' }, std: { type: 'string' }, resize: { type: 'string' } } as const;
  let json = rest.includes('--json');
  try {
    const { values, positionals } = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
    const v = values as Values;
    json = !!v.json;
    if (v.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const r = makeReporter({ json: !!v.json, quiet: !!v.quiet });
    const run = COMMANDS[cmd];
    if (!run) throw new Error(`unknown command "${cmd}" (try: graft help)`);
    await run(positionals, v, r);
    return (process.exitCode as number | undefined) ?? 0;
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    process.stderr.write(`graft: error: ${msg}\n`);
    if (process.env.GRAFT_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    if (json) process.stdout.write(JSON.stringify({ error: msg }) + '\n');
    return 1;
  }
}

function onSignal(sig: NodeJS.Signals): void {
  cleanupPendingDirs();
  process.stderr.write(`\ngraft: interrupted (${sig}); nothing half-written was left behind\n`);
  process.exit(130);
}

const isMain = process.argv[1] && fs.realpathSync(process.argv[1]).replace(/\.[jt]s$/, '') === fs.realpathSync(new URL(import.meta.url).pathname).replace(/\.[jt]s$/, '');
if (isMain || process.env.GRAFT_CLI_MAIN) {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // onnxruntime / wasm may keep handles; exit explicitly once output is flushed.
      process.stdout.write('', () => process.exit(code));
    },
    (e) => {
      process.stderr.write(`graft: error: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
