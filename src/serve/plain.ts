/**
 * The plain endpoints: list models, and `POST /v1/models/{name}/predict` with one or many images
 * as multipart form files, or one image as the raw request body. The answer has `graft predict
 * --json`'s shape: `{ predictions: [{ file, label, probabilities, top }], skipped: [{ file, reason }] }`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest, HttpError, errorReply } from './errors.js';
import type { ServerContext } from './context.js';
import type { ModelEntry } from './registry.js';
import { decodeUploadRows } from './images.js';

export function describeEntry(e: ModelEntry) {
  const m = e.model;
  return {
    name: e.name,
    state: e.state,
    ...(e.error ? { error: e.error } : {}),
    ...(m
      ? { labels: m.labels, backbone: m.backboneName, input: m.inputShape, created: m.created, loaded: m.loadedAt, metrics: m.metrics, batching: m.batching, stats: m.stats }
      : {}),
  };
}

interface Upload {
  file: string;
  bytes: Buffer;
}

/** Uploaded images: every file part of a multipart body, or the raw body as one image. */
async function uploads(req: FastifyRequest, max: number): Promise<Upload[]> {
  const out: Upload[] = [];
  if (req.isMultipart()) {
    for await (const part of req.parts()) {
      if (part.type !== 'file') continue;
      if (out.length >= max) throw new HttpError(413, 'TOO_MANY_IMAGES', `more than ${max} images in one request`);
      out.push({ file: part.filename || part.fieldname || `image${out.length}`, bytes: await part.toBuffer() });
    }
    if (!out.length) throw badRequest('NO_IMAGES', 'the multipart body has no file parts (send images as form files, e.g. curl -F image=@cat.jpg)');
    return out;
  }
  if (!Buffer.isBuffer(req.body) || req.body.length === 0) {
    throw badRequest('NO_IMAGES', 'send images as multipart form files (curl -F image=@cat.jpg) or one image as the raw request body');
  }
  return [{ file: 'body', bytes: req.body }];
}

export function registerPlain(app: FastifyInstance, ctx: ServerContext): void {
  const tags = ['graft'];
  app.get('/v1/backbones', { schema: { tags, summary: 'backbones a training job may name (bundled: no download needed)' } }, async () => {
    await import('../models/backbone.js'); // registers every architecture
    const { listBackbones, DEFAULT_BACKBONE } = await import('../models/registry.js');
    return { default: DEFAULT_BACKBONE, backbones: listBackbones().map((b) => ({ name: b.name, bundled: b.bundled, input: b.preprocess.size, dim: b.featureDim })) };
  });
  app.get('/v1/models', { schema: { tags, summary: 'every model under --models, with its state and labels' } }, async () => ({ models: ctx.registry.list().map(describeEntry) }));
  type P = { Params: { name: string }; Querystring: { top?: number } };
  const params = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } as const;
  app.get<P>('/v1/models/:name', { schema: { tags, summary: 'one model', params } }, async (req) => describeEntry(ctx.registry.entry(req.params.name)));
  app.post<P>(
    '/v1/models/:name/predict',
    {
      schema: {
        tags,
        summary: 'top-k labels for images (multipart files, or one raw image body)',
        params,
        querystring: { type: 'object', properties: { top: { type: 'integer', minimum: 1, maximum: 1000, default: 5 } }, additionalProperties: false },
      },
    },
    async (req) => {
      const m = ctx.registry.get(req.params.name);
      const ups = await uploads(req, ctx.limits.maxImagesPerRequest);
      // One row per image or short sound; a long sound is its sliding windows, averaged below (as `graft predict`).
      const decoded = await Promise.allSettled(ups.map((u) => decodeUploadRows(u.bytes, u.file, m.preprocess, ctx.limits)));
      const ok = decoded.flatMap((d, i) => (d.status === 'fulfilled' ? [{ file: ups[i].file, rows: d.value }] : []));
      const skipped = decoded.flatMap((d, i) => (d.status === 'rejected' ? [{ file: ups[i].file, reason: errorReply(d.reason).body.error }] : []));
      if (!ok.length) throw (decoded[0] as PromiseRejectedResult).reason;
      const [h, w] = m.inputShape;
      const size = h * w * 3;
      const total = ok.reduce((a, o) => a + o.rows.length, 0);
      const x = new Float32Array(total * size);
      let r = 0;
      for (const o of ok) for (const row of o.rows) x.set(row, r++ * size);
      const all = await m.infer(x, total);
      const k = all.length / total;
      const probs = new Float32Array(ok.length * k);
      r = 0;
      ok.forEach((o, i) => {
        for (const _ of o.rows) {
          for (let j = 0; j < k; j++) probs[i * k + j] += all[r * k + j]! / o.rows.length;
          r++;
        }
      });
      const predictions = m.predictions(probs, ok.map((o) => o.file), req.query.top ?? 5).map((p, i) => (ok[i]!.rows.length > 1 ? { ...p, windows: ok[i]!.rows.length } : p));
      return { model: m.name, predictions, skipped };
    },
  );
}
