/**
 * torchvision VGG-16 and VGG-16-BN (`models/vgg.py`, configuration "D").
 *
 * features: 3×3 convolutions (padding 1, with bias — also in the BN variant) and 2×2/2 max pools;
 * the pools end the blocks, named block1…block5 (the cut points). Then AdaptiveAvgPool2d(7),
 * flatten, and the classifier Linear(25088, 4096) → ReLU → Dropout → Linear(4096, 4096) → ReLU →
 * Dropout → Linear(4096, classes). The pooled feature layer 'features' is the second 4096-d ReLU
 * output (fc7), the usual VGG feature vector.
 *
 * AdaptiveAvgPool2d(7) depends on the input size: at 224 the map is already 7×7 (identity); a
 * smaller input gives an H×W map (H = floor(size/32)) whose 7×7 windows torch takes as
 * [floor(i·H/7), ceil((i+1)·H/7)) — e.g. a 1×1 map is copied into all 49 cells, a 2×2 map gives
 * overlapping windows — reproduced exactly by GraftAdaptiveAvgPool2D. torch flattens that
 * [512, 7, 7] map channel-first; the first Linear's columns are reordered for tfjs's NHWC flatten.
 */
import { TvNet, type ST } from './common.js';
import { registerTv, tvTag, type TvArch } from './spec.js';

const EPS = 1e-5;
const CFG_D: (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];

function buildVgg(arch: string, bn: boolean, inputSize: [number, number], numClasses: number): TvNet {
  const n = new TvNet(arch, inputSize);
  let x: ST = n.input;
  let idx = 0;
  let block = 1;
  for (const v of CFG_D) {
    if (v === 'M') {
      x = n.maxPool(x, 2, 2, `block${block++}`);
      idx += 1;
    } else if (bn) {
      x = n.conv(x, `features.${idx}`, { filters: v, kernel: 3, padding: 1, bias: true });
      x = n.act(n.bn(x, `features.${idx + 1}`, EPS), 'relu', `features.${idx + 2}`);
      idx += 3;
    } else {
      x = n.conv(x, `features.${idx}`, { filters: v, kernel: 3, padding: 1, bias: true, activation: 'relu' });
      idx += 2;
    }
  }
  x = n.adaptiveAvgPool(x, [7, 7], 'avgpool');
  const c = n.channels(x);
  x = n.flatten(x, 'flatten');
  x = n.dense(x, 'classifier.0', 4096, { activation: 'relu', fromNchw: { h: 7, w: 7, c } });
  x = n.dense(x, 'classifier.3', 4096, { activation: 'relu', name: 'features' });
  n.finish(n.dense(x, 'classifier.6', numClasses));
  return n;
}

function vggArch(arch: string, bn: boolean, params: number): TvArch {
  return {
    arch,
    build: (size, classes) => buildVgg(arch, bn, size, classes),
    classifierKey: 'classifier.6.weight',
    featureLayer: 'features',
    featureDim: 4096,
    cutPoints: ['block1', 'block2', 'block3', 'block4', 'block5'],
    params,
    minSize: 32,
  };
}

const tag = tvTag;

export const vgg16 = vggArch('vgg16', false, 138_357_544);
export const vgg16_bn = vggArch('vgg16_bn', true, 138_365_992);

registerTv(vgg16, tag('vgg16', 'vgg16-397923af.pth', '397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0', 553_433_881), { isDefaultTag: true });
registerTv(vgg16_bn, tag('vgg16_bn', 'vgg16_bn-6c64b313.pth', '6c64b3138f2f4fcb3bcc4cafde11619c4f440eb1631787e93a682fd88305888a', 553_507_836), { isDefaultTag: true });
