/**
 * Shared builder for torchvision architectures in tfjs-layers (functional API, NHWC), and the
 * loader that puts a torchvision state dict into the built model.
 *
 * Every layer that holds weights is bound to the torchvision state-dict keys it takes them from
 * (the torch module path, e.g. `layer1.0.conv1`), with the layout conversion it needs:
 *
 * - conv      torch [out, in, kh, kw]  → tfjs [kh, kw, in, out]
 * - depthwise torch [C, 1, kh, kw]     → tfjs [kh, kw, C, 1]
 * - linear    torch [out, in]          → tfjs [in, out]; when the Linear follows torch.flatten of an
 *             NCHW map (VGG's classifier), its input columns are also reordered from torch's
 *             C·H·W order to the H·W·C order in which tfjs flattens NHWC
 * - BN        weight, bias, running_mean, running_var → gamma, beta, movingMean, movingVariance,
 *             with torchvision's epsilon set explicitly (1e-5 by default, 1e-3 in MobileNetV3 and
 *             Inception; tfjs's own default would be 1e-3)
 *
 * PyTorch pads convolutions symmetrically. A stride-1 convolution with padding (k−1)/2 is exactly
 * tfjs 'same'; anything else (every stride-2 convolution) gets an explicit ZeroPadding2D and a
 * 'valid' convolution — tfjs 'same' at stride 2 pads at the end only, which shifts the windows.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../../engine/tfjs.js';
import type { ImportedTensor } from '../../import/index.js';
import { GraftAdaptiveAvgPool2D, GraftHardSigmoid, GraftHardSwish } from './layers.js';

export type ST = tfl.SymbolicTensor;
export type Act = 'linear' | 'relu' | 'relu6' | 'sigmoid' | 'silu' | 'hardswish' | 'hardsigmoid';
export type StateDict = Map<string, ImportedTensor>;

type Layout = 'conv' | 'depthwise' | 'linear' | 'vector' | { nchwFlatten: [number, number, number] };

interface TensorBinding {
  key: string;
  /** Shape the torchvision state dict has for this key. */
  shape: number[];
  layout: Layout;
  /** A BN running statistic (a buffer in torch, not a parameter). */
  buffer?: boolean;
}

interface LayerBinding {
  layer: tfl.layers.Layer;
  /** In the order of `layer.weights`. */
  tensors: TensorBinding[];
}

export interface ConvOpts {
  filters: number;
  kernel: number | [number, number];
  stride?: number | [number, number];
  /** PyTorch padding (symmetric); default 0. */
  padding?: number | [number, number];
  /** groups == in_channels == out_channels. */
  depthwise?: boolean;
  bias?: boolean;
  /** Activation fused into the tfjs layer (only where torch applies it right after the conv). */
  activation?: 'linear' | 'relu' | 'sigmoid' | 'silu';
  /** tfjs layer name (default: the torch key). */
  name?: string;
}

const pairOf = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;
const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** tfjs activation names for the activations tfjs has built in. */
const TFJS_ACT: Record<string, string> = { linear: 'linear', relu: 'relu', relu6: 'relu6', sigmoid: 'sigmoid', silu: 'swish' };

/** A torchvision network under construction: tfjs layers plus their state-dict bindings. */
export class TvNet {
  readonly input: ST;
  private readonly bindings: LayerBinding[] = [];
  private readonly names = new Set<string>();
  private readonly ignored: string[] = [];
  private built?: tfl.LayersModel;

  constructor(
    /** torchvision architecture name, for messages. */
    readonly arch: string,
    inputSize: [number, number],
  ) {
    this.input = tfl.input({ shape: [inputSize[0], inputSize[1], 3], name: 'input' });
  }

  /** Reserve a unique layer name (a builder bug if it is taken). */
  private nm(name: string): string {
    if (this.names.has(name)) throw new Error(`${this.arch}: layer name ${name} used twice`);
    this.names.add(name);
    return name;
  }

  private apply(layer: tfl.layers.Layer, x: ST | ST[]): ST {
    return layer.apply(x) as ST;
  }

  /** State-dict keys under `prefix` (e.g. `AuxLogits.`) that the file may carry and graft ignores. */
  ignorePrefix(prefix: string): void {
    this.ignored.push(prefix);
  }

  /** Channels (last dim) of an NHWC tensor. */
  channels(x: ST): number {
    const c = x.shape[x.shape.length - 1];
    if (c == null) throw new Error(`${this.arch}: unknown channel count of ${x.name}`);
    return c;
  }

  /** Spatial size [H, W] of an NHWC tensor. */
  spatial(x: ST): [number, number] {
    const [, h, w] = x.shape;
    if (h == null || w == null) throw new Error(`${this.arch}: unknown spatial size of ${x.name}`);
    return [h, w];
  }

  /** ZeroPadding2D; symmetric [ph, pw]. */
  zeroPad(x: ST, pad: number | [number, number], name: string): ST {
    const [ph, pw] = pairOf(pad);
    return this.apply(tfl.layers.zeroPadding2d({ padding: [[ph, ph], [pw, pw]], name: this.nm(name) }), x);
  }

  /** PyTorch `nn.Conv2d` at state-dict prefix `key`. */
  conv(x: ST, key: string, o: ConvOpts): ST {
    const cin = this.channels(x);
    const [kh, kw] = pairOf(o.kernel);
    const [sh, sw] = pairOf(o.stride ?? 1);
    const [ph, pw] = pairOf(o.padding ?? 0);
    const name = o.name ?? key;
    let padding: 'same' | 'valid' = 'valid';
    if (ph || pw) {
      const sameIsExact = sh === 1 && sw === 1 && kh % 2 === 1 && kw % 2 === 1 && ph === (kh - 1) / 2 && pw === (kw - 1) / 2;
      if (sameIsExact) padding = 'same';
      else x = this.zeroPad(x, [ph, pw], `${name}.pad`);
    }
    const bias = o.bias ?? false;
    const activation = TFJS_ACT[o.activation ?? 'linear'] as 'linear';
    const common = { kernelSize: [kh, kw] as [number, number], strides: [sh, sw] as [number, number], padding, useBias: bias, activation, name: this.nm(name) };
    let layer: tfl.layers.Layer;
    const tensors: TensorBinding[] = [];
    if (o.depthwise) {
      if (o.filters !== cin) throw new Error(`${this.arch}: depthwise ${key} needs filters == channels`);
      layer = tfl.layers.depthwiseConv2d({ ...common, depthMultiplier: 1, depthwiseInitializer: 'zeros' as const, biasInitializer: 'zeros' as const });
      tensors.push({ key: `${key}.weight`, shape: [cin, 1, kh, kw], layout: 'depthwise' });
    } else {
      layer = tfl.layers.conv2d({ ...common, filters: o.filters, kernelInitializer: 'zeros' as const, biasInitializer: 'zeros' as const });
      tensors.push({ key: `${key}.weight`, shape: [o.filters, cin, kh, kw], layout: 'conv' });
    }
    if (bias) tensors.push({ key: `${key}.bias`, shape: [o.filters], layout: 'vector' });
    const y = this.apply(layer, x);
    this.bindings.push({ layer, tensors });
    return y;
  }

  /** PyTorch `nn.BatchNorm2d` (eval mode) at state-dict prefix `key`. */
  bn(x: ST, key: string, eps: number, name = key): ST {
    const c = this.channels(x);
    const layer = tfl.layers.batchNormalization({ axis: -1, epsilon: eps, name: this.nm(name) });
    const y = this.apply(layer, x);
    this.bindings.push({
      layer,
      tensors: [
        { key: `${key}.weight`, shape: [c], layout: 'vector' },
        { key: `${key}.bias`, shape: [c], layout: 'vector' },
        { key: `${key}.running_mean`, shape: [c], layout: 'vector', buffer: true },
        { key: `${key}.running_var`, shape: [c], layout: 'vector', buffer: true },
      ],
    });
    return y;
  }

  /** An activation as its own layer. */
  act(x: ST, act: Act, name: string): ST {
    if (act === 'linear') return x;
    if (act === 'hardswish') return this.apply(new GraftHardSwish({ name: this.nm(name) }), x);
    if (act === 'hardsigmoid') return this.apply(new GraftHardSigmoid({ name: this.nm(name) }), x);
    if (act === 'relu6') return this.apply(tfl.layers.reLU({ maxValue: 6, name: this.nm(name) }), x);
    return this.apply(tfl.layers.activation({ activation: TFJS_ACT[act] as 'relu', name: this.nm(name) }), x);
  }

  /**
   * Conv → BN → activation with torch keys `conv` and `bn`; the last layer is named `name`
   * (default: the activation is `${bn}.act`, or the BN is `bn` when there is no activation).
   */
  convBnAct(x: ST, keys: { conv: string; bn: string }, o: Omit<ConvOpts, 'bias' | 'activation' | 'name'> & { eps: number; act: Act; name?: string }): ST {
    const y = this.conv(x, keys.conv, { ...o, bias: false, activation: 'linear', name: undefined });
    if (o.act === 'linear') return this.bn(y, keys.bn, o.eps, o.name ?? keys.bn);
    return this.act(this.bn(y, keys.bn, o.eps), o.act, o.name ?? `${keys.bn}.act`);
  }

  /** PyTorch `nn.Linear` at `key`; `fromNchw` when its input is torch.flatten of an [C, H, W] map. */
  dense(x: ST, key: string, units: number, o: { name?: string; activation?: 'linear' | 'relu'; fromNchw?: { h: number; w: number; c: number } } = {}): ST {
    const din = x.shape[1];
    if (x.shape.length !== 2 || din == null) throw new Error(`${this.arch}: ${key} needs a [N, D] input`);
    if (o.fromNchw && o.fromNchw.h * o.fromNchw.w * o.fromNchw.c !== din) throw new Error(`${this.arch}: ${key} input size mismatch`);
    const layer = tfl.layers.dense({ units, activation: o.activation ?? 'linear', kernelInitializer: 'zeros', biasInitializer: 'zeros', name: this.nm(o.name ?? key) });
    const y = this.apply(layer, x);
    this.bindings.push({
      layer,
      tensors: [
        { key: `${key}.weight`, shape: [units, din], layout: o.fromNchw ? { nchwFlatten: [o.fromNchw.h, o.fromNchw.w, o.fromNchw.c] } : 'linear' },
        { key: `${key}.bias`, shape: [units], layout: 'vector' },
      ],
    });
    return y;
  }

  maxPool(x: ST, k: number, stride: number, name: string): ST {
    return this.apply(tfl.layers.maxPooling2d({ poolSize: [k, k], strides: [stride, stride], padding: 'valid', name: this.nm(name) }), x);
  }

  /** `F.avg_pool2d` with count_include_pad=True (torch's default): zero padding, then 'valid'. */
  avgPool(x: ST, k: number, stride: number, pad: number, name: string): ST {
    if (pad) x = this.zeroPad(x, pad, `${name}.pad`);
    return this.apply(tfl.layers.averagePooling2d({ poolSize: [k, k], strides: [stride, stride], padding: 'valid', name: this.nm(name) }), x);
  }

  /** AdaptiveAvgPool2d(1) + flatten → [N, C]. */
  globalAvgPool(x: ST, name: string): ST {
    return this.apply(tfl.layers.globalAveragePooling2d({ name: this.nm(name) }), x);
  }

  /**
   * AdaptiveAvgPool2d(1) keeping the [N, 1, 1, C] shape (squeeze-excitation): an average pool over
   * the whole (fixed-size) map, since tfjs's global pooling cannot keep dims.
   */
  poolToOne(x: ST, name: string): ST {
    const [h, w] = this.spatial(x);
    return this.apply(tfl.layers.averagePooling2d({ poolSize: [h, w], strides: [h, w], padding: 'valid', name: this.nm(name) }), x);
  }

  /** AdaptiveAvgPool2d(outputSize) for this model's fixed input size; identity when sizes agree. */
  adaptiveAvgPool(x: ST, outputSize: [number, number], name: string): ST {
    const [h, w] = this.spatial(x);
    if (h === outputSize[0] && w === outputSize[1]) return x;
    return this.apply(new GraftAdaptiveAvgPool2D({ outputSize, name: this.nm(name) }), x);
  }

  flatten(x: ST, name: string): ST {
    return this.apply(tfl.layers.flatten({ name: this.nm(name) }), x);
  }

  add(xs: ST[], name: string): ST {
    return this.apply(tfl.layers.add({ name: this.nm(name) }), xs);
  }

  /** Elementwise product; broadcasts [N,1,1,C] over [N,H,W,C] (squeeze-excitation). */
  multiply(xs: ST[], name: string): ST {
    return this.apply(tfl.layers.multiply({ name: this.nm(name) }), xs);
  }

  concat(xs: ST[], name: string): ST {
    return this.apply(tfl.layers.concatenate({ axis: -1, name: this.nm(name) }), xs);
  }

  /** The tfjs model from the input to `output` (the logits). */
  finish(output: ST): tfl.LayersModel {
    if (this.built) throw new Error(`${this.arch}: finish() called twice`);
    this.built = tfl.model({ inputs: this.input, outputs: output, name: this.arch });
    return this.built;
  }

  /** The built tfjs model (after finish()). */
  get model(): tfl.LayersModel {
    if (!this.built) throw new Error(`${this.arch}: the model is not built yet`);
    return this.built;
  }

  /** Every state-dict key this network takes, with its torchvision shape, in network order. */
  expectedKeys(): Map<string, number[]> {
    const m = new Map<string, number[]>();
    for (const b of this.bindings) for (const t of b.tensors) m.set(t.key, t.shape);
    return m;
  }

  /** Parameters as torchvision counts them (BN running statistics excluded). */
  paramCount(): number {
    let n = 0;
    for (const b of this.bindings) for (const t of b.tensors) if (!t.buffer) n += numel(t.shape);
    return n;
  }

  /**
   * Put a torchvision state dict into the built model. Every problem is checked before anything
   * is written; the error names the first tensor whose shape is wrong (both shapes), then lists
   * missing and unexpected keys. `num_batches_tracked` and ignored prefixes are accepted silently.
   */
  loadStateDict(sd: StateDict, source = 'the weights'): void {
    if (!this.built) throw new Error(`${this.arch}: build the model (finish()) before loading weights`);
    const bad: { key: string; got: number[]; want: number[] }[] = [];
    const missing: string[] = [];
    const used = new Set<string>();
    const bnPrefixes = new Set<string>();
    for (const b of this.bindings) {
      for (const t of b.tensors) {
        if (t.buffer) bnPrefixes.add(t.key.slice(0, t.key.lastIndexOf('.')));
        const v = sd.get(t.key);
        if (!v) {
          missing.push(t.key);
          continue;
        }
        used.add(t.key);
        if (v.shape.length !== t.shape.length || v.shape.some((d, i) => d !== t.shape[i])) bad.push({ key: t.key, got: v.shape, want: t.shape });
      }
    }
    const unexpected: string[] = [];
    for (const k of sd.keys()) {
      if (used.has(k)) continue;
      if (k.endsWith('.num_batches_tracked') && bnPrefixes.has(k.slice(0, -'.num_batches_tracked'.length))) continue;
      if (this.ignored.some((p) => k.startsWith(p))) continue;
      unexpected.push(k);
    }
    if (bad.length || missing.length || unexpected.length) {
      const list = (keys: string[]) => (keys.length > 12 ? `${keys.slice(0, 12).join(', ')}, … (${keys.length - 12} more)` : keys.join(', '));
      const lines = [`${this.arch}: ${source} do not fit this architecture:`];
      if (bad.length) {
        const f = bad[0]!;
        lines.push(
          `  shape mismatch at ${f.key}: the file has ${fmt(f.got)}, ${this.arch} expects ${fmt(f.want)}` +
            (bad.length > 1 ? ` (${bad.length - 1} more tensors differ)` : ''),
        );
      }
      if (missing.length) lines.push(`  missing keys (${missing.length}): ${list(missing)}`);
      if (unexpected.length) lines.push(`  unexpected keys (${unexpected.length}): ${list(unexpected)}`);
      if (bad.length || (missing.length && unexpected.length)) lines.push(`  (are these weights for a different architecture than ${this.arch}?)`);
      throw new Error(lines.join('\n'));
    }
    for (const b of this.bindings) {
      const values = b.tensors.map((t) => {
        const v = sd.get(t.key)!;
        return toTfjs(v.data, t);
      });
      const tensors = values.map((data, i) => tf.tensor(data, b.layer.weights[i]!.shape as number[]));
      try {
        b.layer.setWeights(tensors);
      } finally {
        tensors.forEach((t) => t.dispose());
      }
    }
  }
}

/** dst[c·R + r] = src[r·C + c] for an R×C row-major matrix (blocked, for cache locality). */
function transpose2d(src: Float32Array, R: number, C: number): Float32Array {
  const dst = new Float32Array(R * C);
  const B = 64;
  for (let r0 = 0; r0 < R; r0 += B) {
    const r1 = Math.min(R, r0 + B);
    for (let c0 = 0; c0 < C; c0 += B) {
      const c1 = Math.min(C, c0 + B);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) dst[c * R + r] = src[r * C + c]!;
    }
  }
  return dst;
}

/** Convert one torch tensor's data to its tfjs layout. */
function toTfjs(src: Float32Array, t: TensorBinding): Float32Array {
  const layout = t.layout;
  if (layout === 'vector') return src;
  if (layout === 'conv') {
    // [O, I·kh·kw] → [I·kh·kw, O] is [(I, kh, kw), O]; tfjs wants [(kh, kw, I), O].
    const [O, I, kh, kw] = t.shape as [number, number, number, number];
    const k = kh * kw;
    const tr = transpose2d(src, O, I * k); // [(c, i, j), o]
    if (k === 1) return tr;
    const dst = new Float32Array(src.length);
    for (let c = 0; c < I; c++)
      for (let ij = 0; ij < k; ij++) dst.set(tr.subarray((c * k + ij) * O, (c * k + ij + 1) * O), (ij * I + c) * O);
    return dst;
  }
  if (layout === 'depthwise') {
    // [C, 1, kh, kw] = [C, kh·kw] → [kh·kw, C]
    const [C, , kh, kw] = t.shape as [number, number, number, number];
    return transpose2d(src, C, kh * kw);
  }
  const [O, I] = t.shape as [number, number];
  if (layout === 'linear') return transpose2d(src, O, I);
  // torch input column p = c·H·W + y·W + x; tfjs flattens NHWC: q = (y·W + x)·C + c. Reorder the
  // columns of each row ([O, (C, HW)] → [O, (HW, C)]), then transpose.
  const [H, W, C] = layout.nchwFlatten;
  const hw = H * W;
  const perm = new Float32Array(src.length);
  for (let o = 0; o < O; o++) {
    const row = src.subarray(o * I, (o + 1) * I);
    const out = perm.subarray(o * I, (o + 1) * I);
    for (let c = 0; c < C; c++) for (let s = 0; s < hw; s++) out[s * C + c] = row[c * hw + s]!;
  }
  return transpose2d(perm, O, I);
}

/** torchvision's `_make_divisible` (channel rounding of MobileNet/EfficientNet). */
export function makeDivisible(v: number, divisor = 8, minValue?: number): number {
  const min = minValue ?? divisor;
  let n = Math.max(min, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}
