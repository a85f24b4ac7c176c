/**
 * graft's own tfjs LayersModel → ONNX converter, so frozen backbones run in onnxruntime.
 *
 * It walks the Keras functional graph backwards from the layer named by `opts.output` (the *cut
 * point*) and converts only that sub-graph. The graph boundary stays NHWC (what tfjs hands over);
 * inside, activations are NCHW, which is what ONNX convolutions and ORT's fast kernels expect.
 *
 * - The input is float32 `[N,H,W,C]` with a symbolic batch dim `N`, transposed to NCHW once.
 * - The output is NHWC if 4-D, `[N,D]` if 2-D. `Flatten` of a 4-D tensor transposes back to NHWC
 *   first, so the element order equals Keras's.
 * - Frozen BatchNormalization is folded into the preceding Conv/DepthwiseConv/Dense when that is
 *   its only consumer; a ZeroPadding2D feeding only a convolution becomes that convolution's pads.
 * - 'same' padding is computed the way TF does (extra padding at the end), as explicit pads.
 * - Elementwise merges (Add, Multiply, …) broadcast size-1 dims, e.g. a squeeze-excitation gate
 *   [N,1,1,C] times an [N,H,W,C] map.
 * - graft's own layers for torchvision networks (src/models/tv/layers.ts): GraftHardSigmoid and
 *   GraftHardSwish (PyTorch's relu6(x+3)/6 forms, as ONNX HardSigmoid with alpha 1/6), and
 *   GraftAdaptiveAvgPool2D (identity, an AveragePool, or a MatMul with torch's window matrix).
 * - A ZeroPadding2D feeding a pooling layer becomes a Pad node (torchvision pads a max pool only
 *   after a ReLU, where zeros equal its −∞ padding; average pools count the padding).
 *
 * Each Keras layer class has a small converter in `layers/` (one family per file), registered in
 * `layers/index.ts`; this file walks the graph and writes the model.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { encodeModel, DataType, type Dim } from './onnx-proto.js';
import { makeContext } from './layers/context.js';
import { LAYER_CONVERTERS } from './layers/index.js';
import { attr, checkChannelsLast, fail, findOutput, irVersionFor, type Config, type Layer, type SymbolicTensor } from './layers/util.js';


export interface ConvertOptions {
  /** Layer name whose output becomes the graph output. */
  output: string;
  /** Graph input name (default 'input'). */
  inputName?: string;
  /** Graph output name (default 'output'). */
  outputName?: string;
  /** ONNX opset (default 13; 13–21 accepted). */
  opset?: number;
  /** Fold BatchNormalization into the preceding Conv/Dense where valid (default true). */
  foldBatchNorm?: boolean;
  /** ModelProto.metadata_props (ORT exposes them as the session's custom metadata). */
  metadata?: Record<string, string>;
}

/** Keras layer classes the converter supports (sorted). */
export function supportedLayerClasses(): string[] {
  return Object.keys(LAYER_CONVERTERS).sort();
}

export function layersModelToOnnx(model: tfl.LayersModel, opts: ConvertOptions): Uint8Array {
  const opset = opts.opset ?? 13;
  if (!Number.isInteger(opset) || opset < 13 || opset > 21) throw new Error(`layersModelToOnnx: opset ${opset} not supported (13–21)`);
  const inputName = opts.inputName ?? 'input';
  const outputName = opts.outputName ?? 'output';
  if (inputName === outputName) throw new Error('layersModelToOnnx: inputName and outputName must differ');
  const foldBn = opts.foldBatchNorm ?? true;

  let outLayer: Layer;
  try {
    outLayer = model.getLayer(opts.output);
  } catch {
    throw new Error(`layersModelToOnnx: model has no layer named '${opts.output}'`);
  }
  const outTensor = findOutput(model, outLayer);

  // 1. Topological order of the sub-graph, and each tensor's consumers within it.
  const order: SymbolicTensor[] = [];
  const consumers = new Map<number, SymbolicTensor[]>();
  {
    const seen = new Set<number>();
    const stack: { t: SymbolicTensor; expanded: boolean }[] = [{ t: outTensor, expanded: false }];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (top.expanded) {
        stack.pop();
        if (!seen.has(top.t.id)) {
          seen.add(top.t.id);
          order.push(top.t);
        }
        continue;
      }
      top.expanded = true;
      if (seen.has(top.t.id)) continue;
      for (const inp of top.t.inputs ?? []) {
        if (!seen.has(inp.id)) stack.push({ t: inp, expanded: false });
      }
    }
    for (const t of order) {
      for (const inp of new Set(t.inputs ?? [])) {
        const list = consumers.get(inp.id) ?? [];
        list.push(t);
        consumers.set(inp.id, list);
      }
    }
  }
  const onlyConsumer = (t: SymbolicTensor): SymbolicTensor | undefined => {
    if (t.id === outTensor.id) return undefined;
    const c = consumers.get(t.id);
    return c && c.length === 1 ? c[0] : undefined;
  };

  const ctx = makeContext(inputName, outputName, foldBn, onlyConsumer);
  const b = ctx.b;
  for (const t of order) {
    if (ctx.vals.has(t.id)) continue; // produced by a fused predecessor
    const layer = t.sourceLayer;
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Config;
    const base = (t.nodeIndex ?? 0) > 0 ? `${layer.name}_${t.nodeIndex}` : layer.name;
    const shape = t.shape.slice();
    checkChannelsLast(layer, cfg);
    const convert = Object.hasOwn(LAYER_CONVERTERS, cls) ? LAYER_CONVERTERS[cls] : undefined; // never an Object.prototype member
    if (!convert) {
      if ('layers' in layer) fail(layer, 'nested models are not supported (convert the inner model, or build the model flat)');
      fail(layer, `this layer type is not supported by the converter (supported: ${supportedLayerClasses().join(', ')})`);
    }
    convert(ctx, { layer, t, cfg, base, shape, cls });
  }

  // 2. Graph output.
  if (!ctx.graphInputShape) throw new Error(`layersModelToOnnx: layer '${opts.output}' does not depend on a model input`);
  const last = ctx.settle(ctx.vals.get(outTensor.id)!);
  const outShape = outTensor.shape;
  let outDims: Dim[];
  if (outShape.length === 4) {
    b.node('Transpose', [last.name], outputName, [attr.ints('perm', [0, 2, 3, 1])], true);
    outDims = ['N', ...outShape.slice(1).map((d, i) => d ?? `${outputName}_d${i + 1}`)];
  } else if (outShape.length === 2) {
    const producer = b.nodes.find((n) => n.output[0] === last.name);
    const usedElsewhere = b.nodes.some((n) => n.input.includes(last.name));
    if (producer && !usedElsewhere) {
      producer.output[0] = outputName;
      producer.name = outputName;
    } else {
      b.node('Identity', [last.name], outputName, [], true);
    }
    outDims = ['N', outShape[1] ?? `${outputName}_d1`];
  } else {
    throw new Error(`layersModelToOnnx: output of '${opts.output}' has rank ${outShape.length} (only 2 or 4 supported)`);
  }

  return encodeModel({
    irVersion: irVersionFor(opset),
    opsetImport: [{ version: opset }],
    producerName: 'graft',
    ...(opts.metadata ? { metadataProps: Object.entries(opts.metadata).map(([key, value]) => ({ key, value })) } : {}),
    graph: {
      name: model.name || 'graft',
      node: b.nodes,
      initializer: b.inits,
      input: [{ name: inputName, elemType: DataType.FLOAT, shape: ctx.graphInputShape }],
      output: [{ name: outputName, elemType: DataType.FLOAT, shape: outDims }],
    },
  });
}
