/**
 * Static int8 quantisation of a frozen backbone graph end to end: calibration passes over the
 * user's images in onnxruntime (min/max and per-channel means; histograms when the range method
 * needs them), then the QDQ rewrite of quantize.ts with the chosen settings.
 */
import * as ort from 'onnxruntime-node';
import { ChannelMeanObserver, HistogramObserver, type CalibrationMethod } from './calibrate.js';
import { calibrationGraph, quantizeQdq, RangeObserver, type QuantizeOptions } from './quantize.js';

export interface Int8Settings {
  /** Weight bits: 7 (±63) or 8 (±127). */
  weightBits: 7 | 8;
  perChannel: boolean;
  activations: 'uint8' | 'int8';
  /** Conv output tensors left in float32. */
  keepFloat: string[];
  calibration: CalibrationMethod;
  biasCorrection: boolean;
  tensors: 'compute' | 'all';
}

/** The settings of the first version (README 2026-12-02): 7-bit per-channel weights, uint8 min/max, every tensor. */
export const FIRST_INT8: Int8Settings = { weightBits: 7, perChannel: true, activations: 'uint8', keepFloat: [], calibration: 'minmax', biasCorrection: false, tensors: 'all' };

/** Calibration statistics of one backbone graph over float32 NHWC batches. */
export interface Calibration {
  ranges: RangeObserver['ranges'];
  means: Record<string, Float32Array>;
  /** Present after a histogram pass. */
  histograms?: HistogramObserver;
  images: number;
}

async function passes(onnx: Uint8Array, batches: () => AsyncIterable<{ x: Float32Array; shape: number[] }>, histograms: boolean, threads: number): Promise<Calibration> {
  const cal = calibrationGraph(onnx);
  const s = await ort.InferenceSession.create(cal.bytes, { intraOpNumThreads: threads, graphOptimizationLevel: 'basic' });
  try {
    const obs = new RangeObserver();
    const means = new ChannelMeanObserver();
    let images = 0;
    for await (const { x, shape } of batches()) {
      const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', x, shape) });
      for (const t of cal.tensors) {
        const v = out[t]!;
        obs.observe(t, v.data as Float32Array);
        if (v.dims.length === 4) means.observe(t, v.data as Float32Array, v.dims);
      }
      images += shape[0]!;
    }
    if (images === 0) throw new Error('int8 calibration: no images');
    const c: Calibration = { ranges: obs.ranges, means: means.means(), images };
    if (!histograms) return c;
    const h = new HistogramObserver(obs.ranges);
    for await (const { x, shape } of batches()) {
      const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', x, shape) });
      for (const t of cal.tensors) h.observe(t, out[t]!.data as Float32Array);
    }
    return { ...c, histograms: h };
  } finally {
    await s.release();
  }
}

/** Calibrate `onnx` on the batches (iterated twice when `histograms`). */
export function calibrate(onnx: Uint8Array, batches: () => AsyncIterable<{ x: Float32Array; shape: number[] }>, o: { histograms?: boolean; threads?: number } = {}): Promise<Calibration> {
  return passes(onnx, batches, o.histograms ?? false, o.threads ?? 2);
}

/** The QDQ options of `settings` for a calibration. */
export function quantizeOptions(c: Calibration, s: Int8Settings): { ranges: RangeObserver['ranges']; opts: QuantizeOptions } {
  let ranges = c.ranges;
  if (s.calibration !== 'minmax') {
    if (!c.histograms) throw new Error('int8: this calibration method needs the histogram pass');
    ranges = c.histograms.choose(s.calibration, s.activations === 'uint8' ? 255 : 254);
  }
  return {
    ranges,
    opts: { weightMax: s.weightBits === 8 ? 127 : 63, perChannel: s.perChannel, activations: s.activations, keepFloat: s.keepFloat, tensors: s.tensors, ...(s.biasCorrection ? { inputMeans: c.means } : {}) },
  };
}

/** `onnx` quantised with `settings` from a calibration. */
export function quantizeWith(onnx: Uint8Array, c: Calibration, s: Int8Settings): Uint8Array {
  const { ranges, opts } = quantizeOptions(c, s);
  return quantizeQdq(onnx, ranges, opts);
}

/** Parse a variant like "w8+keep2+p99.99+bc" over FIRST_INT8 with tensors 'compute' (bench:int8's names). */
export function parseVariant(v: string, convs: { first: string[]; last: string }): Int8Settings {
  const s: Int8Settings = { ...FIRST_INT8, tensors: 'compute', keepFloat: [] };
  for (const tok of v.split('+')) {
    if (tok === 'base') Object.assign(s, FIRST_INT8, { keepFloat: [] });
    else if (tok === 'w7' || tok === 'w8') s.weightBits = tok === 'w8' ? 8 : 7;
    else if (tok === 'pt') s.perChannel = false;
    else if (tok === 's8') s.activations = 'int8';
    else if (tok === 'all') s.tensors = 'all';
    else if (tok === 'keep1' || tok === 'keep2') s.keepFloat.push(...convs.first.slice(0, tok === 'keep1' ? 1 : 2));
    else if (tok === 'keeplast') s.keepFloat.push(convs.last);
    else if (tok === 'entropy') s.calibration = 'entropy';
    else if (/^p\d+(\.\d+)?$/.test(tok)) s.calibration = { percentile: Number(tok.slice(1)) };
    else if (tok === 'bc') s.biasCorrection = true;
    else throw new Error(`int8 variant "${v}": unknown part "${tok}" (base, w7, w8, pt, s8, all, keep1, keep2, keeplast, entropy, pNN.NN, bc)`);
  }
  return s;
}
