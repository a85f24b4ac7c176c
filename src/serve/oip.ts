/**
 * Open Inference Protocol v2 REST (KServe v2 / Triton / MLServer): health, server and model
 * metadata, model readiness, and inference. Inputs: `input` FP32 [N,H,W,3] (preprocessed NHWC,
 * what the exported ONNX takes) or `image` BYTES [N] (encoded images: base64 in JSON, raw in the
 * binary extension). Outputs: `probabilities` FP32 [N,K] and `label` BYTES [N].
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { GRAFT_VERSION } from '../version.js';
import { badRequest, notFound } from './errors.js';
import type { ServedModel } from './model.js';
import type { ServerContext } from './context.js';
import { bytesToBinary, readInput, splitBody, type InferRequest, type TensorValue } from './tensors.js';
import { decodeUpload } from './images.js';

const VERSION = '1';

export function modelMetadata(m: ServedModel) {
  const [h, w] = m.inputShape;
  return {
    name: m.name,
    versions: [VERSION],
    platform: 'graft',
    inputs: [
      { name: 'input', datatype: 'FP32', shape: [-1, h, w, 3] },
      { name: 'image', datatype: 'BYTES', shape: [-1] },
    ],
    outputs: [
      { name: 'probabilities', datatype: 'FP32', shape: [-1, m.labels.length] },
      { name: 'label', datatype: 'BYTES', shape: [-1] },
    ],
    labels: m.labels,
    parameters: { backbone: m.backboneName, preprocess: m.preprocess, created: m.created },
  };
}

const nameParams = {
  type: 'object',
  properties: { name: { type: 'string', description: 'model name (its folder under --models)' }, version: { type: 'string' } },
  required: ['name'],
} as const;

function checkVersion(v: string | undefined, name: string): void {
  if (v !== undefined && v !== VERSION) throw notFound('VERSION_NOT_FOUND', `model "${name}" has version ${VERSION} only, not "${v}"`);
}

/** The request's one input as network input rows. */
async function inputRows(ctx: ServerContext, m: ServedModel, t: TensorValue, name: string): Promise<{ x: Float32Array; n: number }> {
  const [h, w] = m.inputShape;
  const max = ctx.limits.maxImagesPerRequest;
  if (t.kind === 'fp32') {
    if (name !== 'input') throw badRequest('BAD_INPUT', `FP32 input must be named "input" (got "${name}")`);
    const s = t.shape;
    if (s.length !== 4 || s[1] !== h || s[2] !== w || s[3] !== 3) throw badRequest('BAD_SHAPE', `input "input": shape ${JSON.stringify(s)}, model "${m.name}" takes [N,${h},${w},3] (preprocessed NHWC)`);
    if (s[0] < 1 || s[0] > max) throw badRequest('BAD_SHAPE', `input "input": batch ${s[0]}, must be 1..${max}`);
    return { x: t.values, n: s[0] };
  }
  if (name !== 'image') throw badRequest('BAD_INPUT', `BYTES input must be named "image" (got "${name}")`);
  if (!(t.shape.length === 1 || (t.shape.length === 2 && t.shape[1] === 1))) throw badRequest('BAD_SHAPE', `input "image": shape ${JSON.stringify(t.shape)}, must be [N] or [N,1]`);
  const n = t.items.length;
  if (n < 1 || n > max) throw badRequest('BAD_SHAPE', `input "image": ${n} images, must be 1..${max}`);
  const rows = await Promise.all(t.items.map((b, i) => decodeUpload(b, `image[${i}]`, m.preprocess, ctx.limits)));
  const x = new Float32Array(n * h * w * 3);
  rows.forEach((r, i) => x.set(r, i * h * w * 3));
  return { x, n };
}

function wantedOutputs(req: InferRequest): { names: string[]; binary: Set<string> } {
  const all = ['probabilities', 'label'];
  const binaryAll = req.parameters?.binary_data_output === true;
  if (!req.outputs?.length) return { names: all, binary: new Set(binaryAll ? all : []) };
  const names: string[] = [];
  const binary = new Set<string>();
  for (const o of req.outputs) {
    if (!all.includes(o.name)) throw badRequest('BAD_OUTPUT', `no output "${o.name}" (outputs: ${all.join(', ')})`);
    names.push(o.name);
    if (binaryAll || o.parameters?.binary_data === true) binary.add(o.name);
  }
  return { names, binary };
}

async function infer(ctx: ServerContext, m: ServedModel, body: unknown, headerLength: string | undefined, reply: FastifyReply) {
  const { req, binary } = splitBody(body, headerLength);
  if (req.inputs.length !== 1) throw badRequest('BAD_INPUT', `model "${m.name}" takes one input ("input" FP32 or "image" BYTES), got ${req.inputs.length}`);
  const [h, w] = m.inputShape;
  const { value } = readInput(req.inputs[0], binary, 0, ctx.limits.maxImagesPerRequest * Math.max(h * w * 3, 1));
  const out = wantedOutputs(req);
  const { x, n } = await inputRows(ctx, m, value, req.inputs[0].name);
  const probs = await m.infer(x, n);
  const k = m.labels.length;
  const labels = Array.from({ length: n }, (_, i) => {
    const row = probs.subarray(i * k, (i + 1) * k);
    return m.labels[row.indexOf(Math.max(...row))];
  });
  const bins: Buffer[] = [];
  const outputs = out.names.map((name) => {
    const t = name === 'probabilities' ? { name, datatype: 'FP32', shape: [n, k] } : { name, datatype: 'BYTES', shape: [n] };
    if (out.binary.has(name)) {
      const b = name === 'probabilities' ? Buffer.from(probs.buffer, probs.byteOffset, probs.byteLength) : bytesToBinary(labels.map((l) => Buffer.from(l, 'utf8')));
      bins.push(b);
      return { ...t, parameters: { binary_data_size: b.length } };
    }
    return { ...t, data: name === 'probabilities' ? Array.from(probs) : labels };
  });
  const res = { model_name: m.name, model_version: VERSION, ...(req.id !== undefined ? { id: req.id } : {}), outputs };
  if (!bins.length) return res;
  const json = Buffer.from(JSON.stringify(res), 'utf8');
  return reply.header('Inference-Header-Content-Length', String(json.length)).type('application/octet-stream').send(Buffer.concat([json, ...bins]));
}

export function registerOip(app: FastifyInstance, ctx: ServerContext): void {
  const tags = ['Open Inference Protocol v2'];
  app.get('/v2', { schema: { tags, summary: 'server metadata' } }, async () => ({ name: 'graft', version: GRAFT_VERSION, extensions: ['binary_tensor_data'] }));
  app.get('/v2/health/live', { schema: { tags, summary: 'the server process is up' } }, async () => ({ live: true }));
  app.get('/v2/health/ready', { schema: { tags, summary: 'every model found has loaded' } }, async (_req, reply) => {
    const ready = ctx.registry.ready;
    return reply.code(ready ? 200 : 503).send({ ready });
  });
  type P = { Params: { name: string; version?: string } };
  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get<P>(prefix, { schema: { tags, summary: 'model metadata: inputs, outputs, labels', params: nameParams } }, async (req) => {
      checkVersion(req.params.version, req.params.name);
      return modelMetadata(ctx.registry.get(req.params.name));
    });
    app.get<P>(`${prefix}/ready`, { schema: { tags, summary: 'the model is loaded', params: nameParams } }, async (req, reply) => {
      checkVersion(req.params.version, req.params.name);
      const e = ctx.registry.entry(req.params.name);
      const ready = e.model !== undefined;
      return reply.code(ready ? 200 : 503).send({ name: e.name, ready });
    });
    app.post<P>(`${prefix}/infer`, { schema: { tags, summary: 'inference (JSON, or the binary tensor extension)', params: nameParams } }, async (req, reply) => {
      checkVersion(req.params.version, req.params.name);
      const m = ctx.registry.get(req.params.name);
      return infer(ctx, m, req.body, req.headers['inference-header-content-length'] as string | undefined, reply);
    });
  }
}
