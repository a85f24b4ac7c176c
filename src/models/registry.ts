/**
 * The one backbone registry (timm-style): `arch.tag` → spec. A bare arch name resolves to the
 * arch's default tag. Builders register themselves next to their architecture.
 */
import type { BackboneSpec } from './types.js';

const specs = new Map<string, BackboneSpec>();
const defaults = new Map<string, string>();

export function registerBackbone(spec: BackboneSpec, opts: { isDefaultTag?: boolean } = {}): void {
  if (specs.has(spec.name)) throw new Error(`backbone ${spec.name} is registered twice`);
  specs.set(spec.name, spec);
  if (opts.isDefaultTag || !defaults.has(spec.arch)) defaults.set(spec.arch, spec.name);
}

/** Resolve `arch` or `arch.tag` to its spec; unknown names list the known ones. */
export function getBackbone(name: string): BackboneSpec {
  const full = specs.has(name) ? name : defaults.get(name);
  const spec = full ? specs.get(full) : undefined;
  if (!spec) throw new Error(`unknown backbone "${name}"; known: ${listBackbones().map((s) => s.name).join(', ')}; or a path/URL to a TF.js model.json or an .onnx file`);
  return spec;
}

export function listBackbones(): BackboneSpec[] {
  return [...specs.values()];
}

/** The backbone used when the user names none. */
export const DEFAULT_BACKBONE = 'mobilenet_v2';
