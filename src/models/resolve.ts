/**
 * Backbone names → specs: a registry name (`mobilenet_v2`, `resnet18.tv_in1k`, see `graft zoo`)
 * or a model file (a path / http(s) URL to a TF.js layers model.json or an .onnx classifier, see
 * file-ref.ts). File specs are read from disk on every call, so a changed file is always noticed.
 */
import { getBackbone } from './registry.js';
import { pixelsSpec } from './pixels.js';
import { isFileRef, parseFileRef } from './file-ref.js';
import { tfjsFileSpec } from './user-tfjs.js';
import { FROZEN_ONNX, onnxFileSpec } from './user-onnx.js';
import type { BackboneSpec } from './types.js';
import './nsfwjs.js';
import './tv/index.js';

/** Resolve a registry name or a model-file reference. `trainable`: refuse frozen-only (ONNX) files. */
export async function resolveBackbone(nameOrRef: string, opts: { trainable?: boolean } = {}): Promise<BackboneSpec> {
  let spec: BackboneSpec;
  if (isFileRef(nameOrRef)) {
    const ref = parseFileRef(nameOrRef);
    spec = ref.kind === 'onnx' ? await onnxFileSpec(ref) : await tfjsFileSpec(ref);
  } else if (/^pixels\.\d+$/.test(nameOrRef)) {
    spec = pixelsSpec(Number(nameOrRef.slice(7))); // a network trained from pixels (graft distill's small CNN)
  } else {
    spec = getBackbone(nameOrRef);
  }
  if (opts.trainable && spec.frozenOnly) throw new Error(`${spec.name}: ${FROZEN_ONNX}`);
  return spec;
}
