/**
 * torchvision ResNet-18/34/50 (torchvision 0.14 `models/resnet.py`, the V1.5 design: a Bottleneck
 * strides in its 3×3 convolution).
 *
 * stem: conv1 7×7/2 pad 3 → bn1 → relu → maxpool 3×3/2 pad 1. The max pool's padding is done with
 * zeros: its input comes out of a ReLU (≥ 0) and every window holds at least one real value, so
 * the result equals torch's −∞ padding. Then layer1…layer4, global average pool ('features'), fc.
 * Cut points: stem, layer1, layer2, layer3, layer4.
 */
import { TvNet, type ST } from './common.js';
import { registerTv, tvTag, type TvArch } from './spec.js';

const EPS = 1e-5;

type Kind = 'basic' | 'bottleneck';

function basicBlock(n: TvNet, x: ST, p: string, planes: number, stride: number, out: string): ST {
  let y = n.convBnAct(x, { conv: `${p}.conv1`, bn: `${p}.bn1` }, { filters: planes, kernel: 3, stride, padding: 1, eps: EPS, act: 'relu' });
  y = n.convBnAct(y, { conv: `${p}.conv2`, bn: `${p}.bn2` }, { filters: planes, kernel: 3, padding: 1, eps: EPS, act: 'linear' });
  const id = stride !== 1 || n.channels(x) !== planes ? n.convBnAct(x, { conv: `${p}.downsample.0`, bn: `${p}.downsample.1` }, { filters: planes, kernel: 1, stride, eps: EPS, act: 'linear' }) : x;
  return n.act(n.add([y, id], `${p}.add`), 'relu', out);
}

function bottleneck(n: TvNet, x: ST, p: string, planes: number, stride: number, out: string): ST {
  const width = planes;
  let y = n.convBnAct(x, { conv: `${p}.conv1`, bn: `${p}.bn1` }, { filters: width, kernel: 1, eps: EPS, act: 'relu' });
  y = n.convBnAct(y, { conv: `${p}.conv2`, bn: `${p}.bn2` }, { filters: width, kernel: 3, stride, padding: 1, eps: EPS, act: 'relu' });
  y = n.convBnAct(y, { conv: `${p}.conv3`, bn: `${p}.bn3` }, { filters: planes * 4, kernel: 1, eps: EPS, act: 'linear' });
  const id = stride !== 1 || n.channels(x) !== planes * 4 ? n.convBnAct(x, { conv: `${p}.downsample.0`, bn: `${p}.downsample.1` }, { filters: planes * 4, kernel: 1, stride, eps: EPS, act: 'linear' }) : x;
  return n.act(n.add([y, id], `${p}.add`), 'relu', out);
}

function buildResnet(arch: string, kind: Kind, layers: [number, number, number, number], inputSize: [number, number], numClasses: number): TvNet {
  const n = new TvNet(arch, inputSize);
  let x = n.convBnAct(n.input, { conv: 'conv1', bn: 'bn1' }, { filters: 64, kernel: 7, stride: 2, padding: 3, eps: EPS, act: 'relu', name: 'relu' });
  x = n.maxPool(n.zeroPad(x, 1, 'maxpool.pad'), 3, 2, 'stem');
  const block = kind === 'basic' ? basicBlock : bottleneck;
  [64, 128, 256, 512].forEach((planes, s) => {
    for (let b = 0; b < layers[s]!; b++) {
      const p = `layer${s + 1}.${b}`;
      x = block(n, x, p, planes, b === 0 && s > 0 ? 2 : 1, b === layers[s]! - 1 ? `layer${s + 1}` : p);
    }
  });
  const f = n.globalAvgPool(x, 'features');
  n.finish(n.dense(f, 'fc', numClasses));
  return n;
}

function resnetArch(arch: string, kind: Kind, layers: [number, number, number, number], params: number): TvArch {
  return {
    arch,
    build: (size, classes) => buildResnet(arch, kind, layers, size, classes),
    classifierKey: 'fc.weight',
    featureLayer: 'features',
    featureDim: kind === 'basic' ? 512 : 2048,
    cutPoints: ['stem', 'layer1', 'layer2', 'layer3', 'layer4'],
    params,
    minSize: 1,
  };
}

const tag = tvTag;

export const resnet18 = resnetArch('resnet18', 'basic', [2, 2, 2, 2], 11_689_512);
export const resnet34 = resnetArch('resnet34', 'basic', [3, 4, 6, 3], 21_797_672);
export const resnet50 = resnetArch('resnet50', 'bottleneck', [3, 4, 6, 3], 25_557_032);

registerTv(resnet18, tag('resnet18', 'resnet18-f37072fd.pth', 'f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec', 46_830_571), { isDefaultTag: true });
registerTv(resnet34, tag('resnet34', 'resnet34-b627a593.pth', 'b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f'), { isDefaultTag: true });
// IMAGENET1K_V1 (acc@1 76.13), torchvision's classic weights; V2 (resnet50-11ad3fa6) is not wired in.
registerTv(resnet50, tag('resnet50', 'resnet50-0676ba61.pth', '0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a'), { isDefaultTag: true });
