/**
 * torchvision MobileNetV2 (`models/mobilenetv2.py`) and MobileNetV3 small/large
 * (`models/mobilenetv3.py`), width 1.0, as in torchvision 0.14.
 *
 * Layer names follow the torch modules: block i of `features` ends in a layer named
 * `features.<i>` (its residual add, or its projection BN); those are the cut points. The pooled
 * vector is 'features'.
 *
 * MobileNetV3 specifics: BN eps 1e-3; Hardswish / Hardsigmoid are graft layers (layers.ts);
 * squeeze-excitation pools to [N,1,1,C], runs fc1 (ReLU) and fc2 as 1×1 convolutions with bias,
 * Hardsigmoid, and multiplies, broadcasting over H×W. The classifier is Linear → Hardswish →
 * (Dropout) → Linear; the Hardswish output is the cut point 'pre_logits'.
 */
import { makeDivisible, TvNet, type Act, type ST } from './common.js';
import { registerTv, tvTag, type TvArch } from './spec.js';

// ---------------------------------------------------------------------------------------------
// MobileNetV2

const V2_EPS = 1e-5;

/** [expand ratio t, channels c, repeats n, first stride s], torchvision's inverted_residual_setting. */
const V2_SETTING: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

function v2Block(n: TvNet, x: ST, p: string, oup: number, stride: number, t: number): ST {
  const inp = n.channels(x);
  const hidden = Math.round(inp * t);
  const res = stride === 1 && inp === oup;
  let y = x;
  let j = 0;
  if (t !== 1) {
    y = n.convBnAct(y, { conv: `${p}.conv.0.0`, bn: `${p}.conv.0.1` }, { filters: hidden, kernel: 1, eps: V2_EPS, act: 'relu6' });
    j = 1;
  }
  y = n.convBnAct(y, { conv: `${p}.conv.${j}.0`, bn: `${p}.conv.${j}.1` }, { filters: hidden, kernel: 3, stride, padding: 1, depthwise: true, eps: V2_EPS, act: 'relu6' });
  y = n.convBnAct(y, { conv: `${p}.conv.${j + 1}`, bn: `${p}.conv.${j + 2}` }, { filters: oup, kernel: 1, eps: V2_EPS, act: 'linear', name: res ? undefined : p });
  return res ? n.add([x, y], p) : y;
}

function buildV2(inputSize: [number, number], numClasses: number): TvNet {
  const n = new TvNet('mobilenet_v2', inputSize);
  let x = n.convBnAct(n.input, { conv: 'features.0.0', bn: 'features.0.1' }, { filters: 32, kernel: 3, stride: 2, padding: 1, eps: V2_EPS, act: 'relu6', name: 'features.0' });
  let i = 1;
  for (const [t, c, reps, s] of V2_SETTING) {
    for (let r = 0; r < reps; r++) x = v2Block(n, x, `features.${i++}`, makeDivisible(c), r === 0 ? s : 1, t);
  }
  x = n.convBnAct(x, { conv: `features.${i}.0`, bn: `features.${i}.1` }, { filters: 1280, kernel: 1, eps: V2_EPS, act: 'relu6', name: `features.${i}` });
  const f = n.globalAvgPool(x, 'features');
  n.finish(n.dense(f, 'classifier.1', numClasses));
  return n;
}

export const mobilenet_v2: TvArch = {
  arch: 'mobilenet_v2',
  build: buildV2,
  classifierKey: 'classifier.1.weight',
  featureLayer: 'features',
  featureDim: 1280,
  cutPoints: Array.from({ length: 19 }, (_, i) => `features.${i}`),
  params: 3_504_872,
  minSize: 1,
};

const tag = tvTag;

// Not the default tag: a bare `mobilenet_v2` stays the bundled nsfwjs network (no download).
registerTv(mobilenet_v2, tag('mobilenet_v2', 'mobilenet_v2-b0353104.pth', 'b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889'));

// ---------------------------------------------------------------------------------------------
// MobileNetV3

const V3_EPS = 1e-3;

/** torchvision's bneck_conf: input channels, kernel, expanded channels, out channels, SE, Hardswish, stride. */
type V3Conf = [number, number, number, number, boolean, boolean, number];

const V3_LARGE: V3Conf[] = [
  [16, 3, 16, 16, false, false, 1],
  [16, 3, 64, 24, false, false, 2],
  [24, 3, 72, 24, false, false, 1],
  [24, 5, 72, 40, true, false, 2],
  [40, 5, 120, 40, true, false, 1],
  [40, 5, 120, 40, true, false, 1],
  [40, 3, 240, 80, false, true, 2],
  [80, 3, 200, 80, false, true, 1],
  [80, 3, 184, 80, false, true, 1],
  [80, 3, 184, 80, false, true, 1],
  [80, 3, 480, 112, true, true, 1],
  [112, 3, 672, 112, true, true, 1],
  [112, 5, 672, 160, true, true, 2],
  [160, 5, 960, 160, true, true, 1],
  [160, 5, 960, 160, true, true, 1],
];

const V3_SMALL: V3Conf[] = [
  [16, 3, 16, 16, true, false, 2],
  [16, 3, 72, 24, false, false, 2],
  [24, 3, 88, 24, false, false, 1],
  [24, 5, 96, 40, true, true, 2],
  [40, 5, 240, 40, true, true, 1],
  [40, 5, 240, 40, true, true, 1],
  [40, 5, 120, 48, true, true, 1],
  [48, 5, 144, 48, true, true, 1],
  [48, 5, 288, 96, true, true, 2],
  [96, 5, 576, 96, true, true, 1],
  [96, 5, 576, 96, true, true, 1],
];

function v3Block(n: TvNet, x: ST, p: string, conf: V3Conf): ST {
  const [, k, expC, outC, se, hs, stride] = conf;
  const inp = n.channels(x);
  const exp = makeDivisible(expC);
  const out = makeDivisible(outC);
  const act: Act = hs ? 'hardswish' : 'relu';
  let y = x;
  let j = 0;
  if (exp !== inp) {
    y = n.convBnAct(y, { conv: `${p}.block.0.0`, bn: `${p}.block.0.1` }, { filters: exp, kernel: 1, eps: V3_EPS, act });
    j = 1;
  }
  y = n.convBnAct(y, { conv: `${p}.block.${j}.0`, bn: `${p}.block.${j}.1` }, { filters: exp, kernel: k, stride, padding: (k - 1) / 2, depthwise: true, eps: V3_EPS, act });
  if (se) {
    const q = `${p}.block.${++j}`;
    let s = n.poolToOne(y, `${q}.avgpool`);
    s = n.conv(s, `${q}.fc1`, { filters: makeDivisible(Math.floor(exp / 4)), kernel: 1, bias: true, activation: 'relu' });
    s = n.act(n.conv(s, `${q}.fc2`, { filters: exp, kernel: 1, bias: true }), 'hardsigmoid', `${q}.scale`);
    y = n.multiply([s, y], q);
  }
  const res = stride === 1 && inp === out;
  y = n.convBnAct(y, { conv: `${p}.block.${j + 1}.0`, bn: `${p}.block.${j + 1}.1` }, { filters: out, kernel: 1, eps: V3_EPS, act: 'linear', name: res ? undefined : p });
  return res ? n.add([y, x], p) : y;
}

function buildV3(arch: string, confs: V3Conf[], lastChannel: number, inputSize: [number, number], numClasses: number): TvNet {
  const n = new TvNet(arch, inputSize);
  let x = n.convBnAct(n.input, { conv: 'features.0.0', bn: 'features.0.1' }, { filters: makeDivisible(confs[0]![0]), kernel: 3, stride: 2, padding: 1, eps: V3_EPS, act: 'hardswish', name: 'features.0' });
  confs.forEach((c, i) => (x = v3Block(n, x, `features.${i + 1}`, c)));
  const L = confs.length + 1;
  x = n.convBnAct(x, { conv: `features.${L}.0`, bn: `features.${L}.1` }, { filters: 6 * n.channels(x), kernel: 1, eps: V3_EPS, act: 'hardswish', name: `features.${L}` });
  const f = n.globalAvgPool(x, 'features');
  const h = n.act(n.dense(f, 'classifier.0', makeDivisible(lastChannel)), 'hardswish', 'pre_logits');
  n.finish(n.dense(h, 'classifier.3', numClasses));
  return n;
}

function v3Arch(arch: string, confs: V3Conf[], lastChannel: number, params: number): TvArch {
  const blocks = confs.length + 2;
  return {
    arch,
    build: (size, classes) => buildV3(arch, confs, lastChannel, size, classes),
    classifierKey: 'classifier.3.weight',
    featureLayer: 'features',
    featureDim: 6 * confs[confs.length - 1]![3],
    cutPoints: [...Array.from({ length: blocks }, (_, i) => `features.${i}`), 'pre_logits'],
    params,
    minSize: 1,
  };
}

export const mobilenet_v3_small = v3Arch('mobilenet_v3_small', V3_SMALL, 1024, 2_542_856);
export const mobilenet_v3_large = v3Arch('mobilenet_v3_large', V3_LARGE, 1280, 5_483_032);

registerTv(mobilenet_v3_small, tag('mobilenet_v3_small', 'mobilenet_v3_small-047dcff4.pth', '047dcff4addef86ea5bc2eff13c9614dc11f47ab1160d0a71a25e7db994f4e1f', 10_306_551), { isDefaultTag: true });
registerTv(mobilenet_v3_large, tag('mobilenet_v3_large', 'mobilenet_v3_large-8738ca79.pth', '8738ca797c879b547d18bbd15da5736ff2557b2036a9af72225393ca61759a04', 22_139_423), { isDefaultTag: true });
