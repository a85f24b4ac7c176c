/** Backbone contracts shared by the registry, engines, feature store and bundles. */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Preprocess } from '../data/decode.js';

/** Which weights to load: a local file (.pth/.pt/.safetensors), 'imagenet' (the tag's published
 * weights: cache, else download with sha256 check), or undefined (the tag's default source). */
export interface WeightsOption {
  weights?: string;
}

/** A registry entry (timm-style `arch.tag`): what a pretrained network is and how to feed it. */
export interface BackboneSpec {
  /** Full name `arch.tag`, e.g. `mobilenet_v2.nsfwjs`. */
  name: string;
  arch: string;
  tag: string;
  /** Input preprocessing: size, resize mode, mean/std. Saved in bundles so predict matches train. */
  preprocess: Preprocess;
  /** Layer whose output is the feature vector. */
  featureLayer: string;
  featureDim: number;
  /** Named blocks usable as cut points, in network order. */
  cutPoints: string[];
  /** Model files: every other output name `--layer` accepts (tfjs layer names / ONNX node outputs). */
  layers?: string[];
  /** Frozen only (ONNX files): no tfjs network to load, fine-tune or run on `--engine tfjs`. */
  frozenOnly?: boolean;
  /**
   * How another process reopens this spec when `name` alone does not resolve (a bundle used as a
   * backbone: `bundle:/abs/dir`). Registry names and model-file references resolve from `name`.
   */
  source?: string;
  /** Where the weights come from, in plain words (honest provenance). */
  provenance: string;
  license: string;
  /** True when the weights ship inside an npm dependency (no download needed). */
  bundled: boolean;
  /** Where `--weights imagenet` keeps the published file (downloadable weights only). */
  publishedWeightsPath?: () => string;
  /** Load the network in tfjs plus a sha256 identifying its weights. */
  load(opts?: WeightsOption): Promise<{ model: tfl.LayersModel; weightsHash: string }>;
  /** sha256 of the weights without building the network (cheap). */
  weightsHash(opts?: WeightsOption): Promise<string>;
  /** Number of parameters of the whole pretrained network (from the weight manifest). */
  paramCount(): Promise<number>;
  /**
   * A ready ONNX graph up to `layer` (float32 NHWC in, as graft feeds every backbone), used instead
   * of converting the tfjs network (ONNX files). `maxBatch`: the graph runs only that many images at once.
   */
  onnx?(layer: string, opts?: WeightsOption): Promise<{ bytes: Uint8Array; weightsHash: string; maxBatch?: number }>;
}

/** Which runtime runs the frozen part. */
export type EngineName = 'ort' | 'tfjs';

/** A ready-to-run feature extractor. */
export interface Backbone {
  spec: BackboneSpec;
  weightsHash: string;
  engine: EngineName;
  /** Output layer (feature layer or a cut point). */
  layer: string;
  dim: number;
  /** Images pushed through the network so far (the feature store's tests count these). */
  readonly forwardCount: number;
  /**
   * Run a batch of `n` images; returns n×dim features. Float32: preprocessed NHWC (normalised).
   * Uint8Array: 8-bit RGB NHWC pixels as `decodeToRgb` gives them, only where `pixelInput` is
   * true (the backbone normalises them itself, exactly as `normalizeRgb` would).
   */
  extract(batch: Float32Array | Uint8Array, n: number): Promise<Float32Array>;
  /** extract() accepts uint8 pixels. */
  readonly pixelInput?: boolean;
  dispose(): Promise<void>;
}
