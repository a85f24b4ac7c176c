/** torchvision architectures in tfjs, registered as `<arch>.tv_in1k` (see spec.ts). */
import './resnet.js';
import './mobilenet.js';
import './vgg.js';
import './efficientnet.js';
import './inception.js';

export { TvNet, makeDivisible, type StateDict } from './common.js';
export { buildTvModel, classesOf, getTvArch, getTvTag, listTvArchs, type TvArch, type TvTag } from './spec.js';
export { fileSha256, readTvStateDict, resolveTvWeights, tvWeightsDir, tvWeightsHash, type TvWeightsSource } from './weights.js';
export { GraftAdaptiveAvgPool2D, GraftHardSigmoid, GraftHardSwish, adaptivePoolMatrix } from './layers.js';
