/**
 * torchvision Inception v3 (`models/inception.py`) without the auxiliary head.
 *
 * Every BasicConv2d is conv (no bias) → BN (eps 1e-3) → ReLU, named by its torch module
 * (`Mixed_6b.branch7x7_2`). The branch pools `F.avg_pool2d(x, 3, stride=1, padding=1)` count the
 * zero padding (torch's default count_include_pad=True), so they are zero padding + 'valid'
 * average pooling. Cut points: Mixed_5b … Mixed_7c; 'features' is the pooled 2048-d vector.
 *
 * transform_input: the network here is torchvision's `Inception3(transform_input=False)` — it
 * takes its input as given. torchvision builds the pretrained model with transform_input=True,
 * which turns an ImageNet-mean/std-normalised input back into (pixel − 0.5) / 0.5 per channel
 * before the first convolution. The tv_in1k tag therefore normalises with mean = std = 0.5,
 * which is exactly the same input to the first convolution. The AuxLogits.* weights of the
 * published file are accepted and ignored.
 */
import { TvNet, type ST } from './common.js';
import { registerTv, TV_LICENSE, tvProvenance, type TvArch } from './spec.js';

const EPS = 1e-3;

type K = number | [number, number];

function bc(n: TvNet, x: ST, key: string, filters: number, kernel: K, o: { stride?: number; padding?: K } = {}): ST {
  return n.convBnAct(x, { conv: `${key}.conv`, bn: `${key}.bn` }, { filters, kernel, stride: o.stride, padding: o.padding, eps: EPS, act: 'relu', name: key });
}

function inceptionA(n: TvNet, x: ST, p: string, poolFeatures: number): ST {
  const b1 = bc(n, x, `${p}.branch1x1`, 64, 1);
  const b5 = bc(n, bc(n, x, `${p}.branch5x5_1`, 48, 1), `${p}.branch5x5_2`, 64, 5, { padding: 2 });
  let b3 = bc(n, x, `${p}.branch3x3dbl_1`, 64, 1);
  b3 = bc(n, b3, `${p}.branch3x3dbl_2`, 96, 3, { padding: 1 });
  b3 = bc(n, b3, `${p}.branch3x3dbl_3`, 96, 3, { padding: 1 });
  const bp = bc(n, n.avgPool(x, 3, 1, 1, `${p}.avg_pool`), `${p}.branch_pool`, poolFeatures, 1);
  return n.concat([b1, b5, b3, bp], p);
}

function inceptionB(n: TvNet, x: ST, p: string): ST {
  const b3 = bc(n, x, `${p}.branch3x3`, 384, 3, { stride: 2 });
  let bd = bc(n, x, `${p}.branch3x3dbl_1`, 64, 1);
  bd = bc(n, bd, `${p}.branch3x3dbl_2`, 96, 3, { padding: 1 });
  bd = bc(n, bd, `${p}.branch3x3dbl_3`, 96, 3, { stride: 2 });
  const bp = n.maxPool(x, 3, 2, `${p}.max_pool`);
  return n.concat([b3, bd, bp], p);
}

function inceptionC(n: TvNet, x: ST, p: string, c7: number): ST {
  const b1 = bc(n, x, `${p}.branch1x1`, 192, 1);
  let b7 = bc(n, x, `${p}.branch7x7_1`, c7, 1);
  b7 = bc(n, b7, `${p}.branch7x7_2`, c7, [1, 7], { padding: [0, 3] });
  b7 = bc(n, b7, `${p}.branch7x7_3`, 192, [7, 1], { padding: [3, 0] });
  let bd = bc(n, x, `${p}.branch7x7dbl_1`, c7, 1);
  bd = bc(n, bd, `${p}.branch7x7dbl_2`, c7, [7, 1], { padding: [3, 0] });
  bd = bc(n, bd, `${p}.branch7x7dbl_3`, c7, [1, 7], { padding: [0, 3] });
  bd = bc(n, bd, `${p}.branch7x7dbl_4`, c7, [7, 1], { padding: [3, 0] });
  bd = bc(n, bd, `${p}.branch7x7dbl_5`, 192, [1, 7], { padding: [0, 3] });
  const bp = bc(n, n.avgPool(x, 3, 1, 1, `${p}.avg_pool`), `${p}.branch_pool`, 192, 1);
  return n.concat([b1, b7, bd, bp], p);
}

function inceptionD(n: TvNet, x: ST, p: string): ST {
  const b3 = bc(n, bc(n, x, `${p}.branch3x3_1`, 192, 1), `${p}.branch3x3_2`, 320, 3, { stride: 2 });
  let b7 = bc(n, x, `${p}.branch7x7x3_1`, 192, 1);
  b7 = bc(n, b7, `${p}.branch7x7x3_2`, 192, [1, 7], { padding: [0, 3] });
  b7 = bc(n, b7, `${p}.branch7x7x3_3`, 192, [7, 1], { padding: [3, 0] });
  b7 = bc(n, b7, `${p}.branch7x7x3_4`, 192, 3, { stride: 2 });
  const bp = n.maxPool(x, 3, 2, `${p}.max_pool`);
  return n.concat([b3, b7, bp], p);
}

function inceptionE(n: TvNet, x: ST, p: string): ST {
  const b1 = bc(n, x, `${p}.branch1x1`, 320, 1);
  const b3in = bc(n, x, `${p}.branch3x3_1`, 384, 1);
  const b3 = n.concat(
    [bc(n, b3in, `${p}.branch3x3_2a`, 384, [1, 3], { padding: [0, 1] }), bc(n, b3in, `${p}.branch3x3_2b`, 384, [3, 1], { padding: [1, 0] })],
    `${p}.branch3x3`,
  );
  let bdin = bc(n, x, `${p}.branch3x3dbl_1`, 448, 1);
  bdin = bc(n, bdin, `${p}.branch3x3dbl_2`, 384, 3, { padding: 1 });
  const bd = n.concat(
    [bc(n, bdin, `${p}.branch3x3dbl_3a`, 384, [1, 3], { padding: [0, 1] }), bc(n, bdin, `${p}.branch3x3dbl_3b`, 384, [3, 1], { padding: [1, 0] })],
    `${p}.branch3x3dbl`,
  );
  const bp = bc(n, n.avgPool(x, 3, 1, 1, `${p}.avg_pool`), `${p}.branch_pool`, 192, 1);
  return n.concat([b1, b3, bd, bp], p);
}

function buildInception(inputSize: [number, number], numClasses: number): TvNet {
  const n = new TvNet('inception_v3', inputSize);
  n.ignorePrefix('AuxLogits.');
  let x = bc(n, n.input, 'Conv2d_1a_3x3', 32, 3, { stride: 2 });
  x = bc(n, x, 'Conv2d_2a_3x3', 32, 3);
  x = bc(n, x, 'Conv2d_2b_3x3', 64, 3, { padding: 1 });
  x = n.maxPool(x, 3, 2, 'maxpool1');
  x = bc(n, x, 'Conv2d_3b_1x1', 80, 1);
  x = bc(n, x, 'Conv2d_4a_3x3', 192, 3);
  x = n.maxPool(x, 3, 2, 'maxpool2');
  x = inceptionA(n, x, 'Mixed_5b', 32);
  x = inceptionA(n, x, 'Mixed_5c', 64);
  x = inceptionA(n, x, 'Mixed_5d', 64);
  x = inceptionB(n, x, 'Mixed_6a');
  x = inceptionC(n, x, 'Mixed_6b', 128);
  x = inceptionC(n, x, 'Mixed_6c', 160);
  x = inceptionC(n, x, 'Mixed_6d', 160);
  x = inceptionC(n, x, 'Mixed_6e', 192);
  x = inceptionD(n, x, 'Mixed_7a');
  x = inceptionE(n, x, 'Mixed_7b');
  x = inceptionE(n, x, 'Mixed_7c');
  const f = n.globalAvgPool(x, 'features');
  n.finish(n.dense(f, 'fc', numClasses));
  return n;
}

export const inception_v3: TvArch = {
  arch: 'inception_v3',
  build: buildInception,
  classifierKey: 'fc.weight',
  featureLayer: 'features',
  featureDim: 2048,
  cutPoints: ['Mixed_5b', 'Mixed_5c', 'Mixed_5d', 'Mixed_6a', 'Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e', 'Mixed_7a', 'Mixed_7b', 'Mixed_7c'],
  // torchvision's num_params (27,161,264) includes the 3,326,696 of the auxiliary head graft drops.
  params: 23_834_568,
  minSize: 75,
};

const FILE = 'inception_v3_google-0cc3c7bd.pth';
// Not the default tag: a bare `inception_v3` stays the bundled nsfwjs network.
registerTv(inception_v3, {
  tag: 'tv_in1k',
  weights: { file: FILE, url: `https://download.pytorch.org/models/${FILE}`, sha256: '0cc3c7bd75056d25e46cba549dc184522069b81e9787eff6df84f397bd52a5ef', size: 108_949_747 },
  crop: 299,
  resize: 342,
  // = ImageNet mean/std followed by torchvision's transform_input=True (see above)
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
  provenance: tvProvenance('inception_v3 IMAGENET1K_V1 (ported from the original TensorFlow weights; auxiliary head dropped)'),
  license: TV_LICENSE,
});
