/**
 * torchvision EfficientNet-B0 (`models/efficientnet.py`, V1: MBConv blocks, BN eps 1e-5, SiLU).
 *
 * features.0 is the stem (3×3/2 conv, BN, SiLU); features.1…features.7 are the stages of MBConv
 * blocks (expand 1×1 → depthwise k×k → squeeze-excitation → project 1×1, residual when the shape
 * allows; stochastic depth is the identity in eval mode); features.8 is the 1×1 head conv to 1280.
 * Squeeze-excitation: pool to [N,1,1,C], fc1 (1×1 conv, SiLU) to max(1, block input channels / 4),
 * fc2 (1×1 conv, sigmoid) back to C, multiplied in (broadcast over H×W).
 *
 * Names: block b of stage s ends in `features.<s>.<b>`, except the last block of a stage, which is
 * named `features.<s>` (the stage cut point). 'features' is the pooled 1280-d vector.
 */
import { makeDivisible, TvNet, type ST } from './common.js';
import { registerTv, tvProvenance, tvTag, type TvArch } from './spec.js';

const EPS = 1e-5;

/** [expand ratio, kernel, stride, in, out, layers] for B0 (width and depth multipliers 1.0). */
const B0: [number, number, number, number, number, number][] = [
  [1, 3, 1, 32, 16, 1],
  [6, 3, 2, 16, 24, 2],
  [6, 5, 2, 24, 40, 2],
  [6, 3, 2, 40, 80, 3],
  [6, 5, 1, 80, 112, 3],
  [6, 5, 2, 112, 192, 4],
  [6, 3, 1, 192, 320, 1],
];

function mbconv(n: TvNet, x: ST, p: string, expand: number, k: number, stride: number, out: number, name: string): ST {
  const inp = n.channels(x);
  const expanded = makeDivisible(inp * expand);
  let y = x;
  let j = 0;
  if (expanded !== inp) {
    y = n.convBnAct(y, { conv: `${p}.block.0.0`, bn: `${p}.block.0.1` }, { filters: expanded, kernel: 1, eps: EPS, act: 'silu' });
    j = 1;
  }
  y = n.convBnAct(y, { conv: `${p}.block.${j}.0`, bn: `${p}.block.${j}.1` }, { filters: expanded, kernel: k, stride, padding: (k - 1) / 2, depthwise: true, eps: EPS, act: 'silu' });
  const se = `${p}.block.${j + 1}`;
  let s = n.poolToOne(y, `${se}.avgpool`);
  s = n.conv(s, `${se}.fc1`, { filters: Math.max(1, Math.floor(inp / 4)), kernel: 1, bias: true, activation: 'silu' });
  s = n.conv(s, `${se}.fc2`, { filters: expanded, kernel: 1, bias: true, activation: 'sigmoid' });
  y = n.multiply([s, y], se);
  const res = stride === 1 && inp === out;
  y = n.convBnAct(y, { conv: `${p}.block.${j + 2}.0`, bn: `${p}.block.${j + 2}.1` }, { filters: out, kernel: 1, eps: EPS, act: 'linear', name: res ? undefined : name });
  return res ? n.add([y, x], name) : y;
}

function buildB0(inputSize: [number, number], numClasses: number): TvNet {
  const n = new TvNet('efficientnet_b0', inputSize);
  let x = n.convBnAct(n.input, { conv: 'features.0.0', bn: 'features.0.1' }, { filters: 32, kernel: 3, stride: 2, padding: 1, eps: EPS, act: 'silu', name: 'features.0' });
  B0.forEach(([e, k, s, , out, layers], i) => {
    const stage = i + 1;
    for (let b = 0; b < layers; b++) {
      x = mbconv(n, x, `features.${stage}.${b}`, e, k, b === 0 ? s : 1, makeDivisible(out), b === layers - 1 ? `features.${stage}` : `features.${stage}.${b}`);
    }
  });
  x = n.convBnAct(x, { conv: 'features.8.0', bn: 'features.8.1' }, { filters: 1280, kernel: 1, eps: EPS, act: 'silu', name: 'features.8' });
  const f = n.globalAvgPool(x, 'features');
  n.finish(n.dense(f, 'classifier.1', numClasses));
  return n;
}

export const efficientnet_b0: TvArch = {
  arch: 'efficientnet_b0',
  build: buildB0,
  classifierKey: 'classifier.1.weight',
  featureLayer: 'features',
  featureDim: 1280,
  cutPoints: Array.from({ length: 9 }, (_, i) => `features.${i}`),
  params: 5_288_548,
  minSize: 1,
};

// torchvision 0.14's URL. Its file name says 3dd342df (the sha256 prefix of the timm original it
// was ported from), but the file served there hashes to 7f5810bc… — later torchvision renamed it
// efficientnet_b0_rwightman-7f5810bc.pth. The full sha256 below is of the served file.
// torchvision evaluates these weights with bicubic resizing (256 → crop 224); graft's decoder
// resizes with its own kernel, so accuracy may differ slightly from torchvision's reported 77.69%.
const FILE = 'efficientnet_b0_rwightman-3dd342df.pth';
registerTv(
  efficientnet_b0,
  tvTag('efficientnet_b0', FILE, '7f5810bc96def8f7552d5b7e68d53c4786f81167d28291b21c0d90e1fca14934', 21_444_401, {
    provenance: tvProvenance('efficientnet_b0 IMAGENET1K_V1 (ported by R. Wightman from the original TensorFlow weights)'),
  }),
  { isDefaultTag: true },
);
