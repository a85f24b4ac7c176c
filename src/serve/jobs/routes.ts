/**
 * Training jobs over HTTP: `POST /v1/jobs` (JSON naming a folder under --data-root, or multipart:
 * a `spec` field plus image files whose field name is their class, or an `archive` ZIP of
 * `<class>/<image>` entries, see archive.ts), `GET /v1/jobs`,
 * `GET /v1/jobs/{id}`, `GET /v1/jobs/{id}/events` (Server-Sent Events: state, log, progress,
 * epoch metrics, the final result; replayed from the start or from Last-Event-ID), `DELETE
 * /v1/jobs/{id}` (cancel), `GET /v1/jobs/{id}/misclassified/{n}` (thumbnails, thumbs.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest, HttpError } from '../errors.js';
import { checkImage } from '../images.js';
import type { ServerContext } from '../context.js';
import { FINAL, type JobEvent, type JobManager, type JobRecord } from './manager.js';
import { CLASS_NAME, checkJobSpec, resolveDataDir, type JobSpec } from './spec.js';
import { archiveImages } from './archive.js';
import { registerThumbnails } from './thumbs.js';

const JOB_ID = /^[a-z0-9]{6,12}-[0-9a-f]{8}$/;

export interface JobsContext extends ServerContext {
  jobs: JobManager;
  dataRoot?: string;
  /** Images per training upload. */
  maxTrainImages: number;
}

function describeJob(j: JobRecord, events: JobEvent[]) {
  const progress = [...events].reverse().find((e) => e.type === 'progress');
  const epochs = events.filter((e) => e.type === 'epoch');
  return { ...j, progress, epochs };
}

function checkId(id: string): string {
  if (!JOB_ID.test(id)) throw badRequest('BAD_JOB_ID', `"${id.slice(0, 64)}" is not a job id`);
  return id;
}

/** Multipart job: the `spec` field and the images (field name = class), written under the job's data/. */
async function receiveUpload(ctx: JobsContext, req: FastifyRequest, id: string): Promise<{ spec: unknown; data: string; counts: Record<string, number> }> {
  const data = path.join(ctx.jobs.jobDir(id), 'data');
  const counts: Record<string, number> = {};
  let spec: unknown;
  let n = 0;
  for await (const part of req.parts({ limits: { files: ctx.maxTrainImages, fileSize: ctx.limits.maxBodyBytes, parts: ctx.maxTrainImages + 16 } })) {
    if (part.type === 'field') {
      if (part.fieldname !== 'spec') throw badRequest('BAD_FIELD', `unknown form field "${part.fieldname.slice(0, 40)}" (send "spec" and image files named by class)`);
      try {
        spec = JSON.parse(String(part.value));
      } catch (e) {
        throw badRequest('BAD_JSON', `the "spec" field does not parse as JSON: ${(e as Error).message}`);
      }
      continue;
    }
    if (part.fieldname === 'archive') {
      const zip = await part.toBuffer();
      for (const f of await archiveImages(zip, part.filename || 'archive.zip', { ...ctx.limits, maxEntries: ctx.maxTrainImages - n, maxTotalBytes: ctx.limits.maxBodyBytes * 4 })) {
        fs.mkdirSync(path.join(data, f.cls), { recursive: true });
        fs.writeFileSync(path.join(data, f.cls, `${String(n++).padStart(5, '0')}.${f.format === 'jpeg' ? 'jpg' : f.format}`), f.bytes);
        counts[f.cls] = (counts[f.cls] ?? 0) + 1;
      }
      continue;
    }
    const cls = part.fieldname;
    if (!CLASS_NAME.test(cls)) throw badRequest('BAD_CLASS', `class name ${JSON.stringify(cls.slice(0, 64))} is not allowed (no slashes, no leading dot, ≤64 characters)`);
    const bytes = await part.toBuffer();
    const name = part.filename || `image${n}`;
    const format = await checkImage(bytes, `${cls}/${name}`, ctx.limits);
    fs.mkdirSync(path.join(data, cls), { recursive: true });
    fs.writeFileSync(path.join(data, cls, `${String(n++).padStart(5, '0')}.${format === 'jpeg' ? 'jpg' : format}`), bytes);
    counts[cls] = (counts[cls] ?? 0) + 1;
  }
  if (Object.keys(counts).length < 2) throw badRequest('TOO_FEW_CLASSES', `upload images of at least 2 classes (got ${Object.keys(counts).length}); each file's form field name is its class`);
  return { spec, data, counts };
}

/** A spec's target folder (confined to the data root) and teacher (a served model's bundle folder). */
function otherInputs(ctx: JobsContext, spec: JobSpec): { target?: string; teacher?: string } {
  const out: { target?: string; teacher?: string } = {};
  if (spec.target !== undefined) out.target = resolveDataDir(ctx.dataRoot, spec.target, 'target');
  if (spec.teacher !== undefined) {
    const served = ctx.registry.list().filter((e) => e.model).map((e) => e.name);
    if (!served.includes(spec.teacher)) throw badRequest('BAD_TEACHER', `"teacher": no model "${spec.teacher}" is served here (ready: ${served.join(', ') || 'none'})`);
    out.teacher = path.join(ctx.registry.root, spec.teacher);
  }
  return out;
}

export function registerJobs(app: FastifyInstance, ctx: JobsContext): void {
  const tags = ['training jobs'];
  const params = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } as const;
  type P = { Params: { id: string } };
  const streams = new Set<ServerResponse>();
  app.addHook('preClose', async () => streams.forEach((s) => s.end()));

  app.post('/v1/jobs', { schema: { tags, summary: 'start a training job: JSON { name, recipe, data, options } or multipart (spec + images per class)' } }, async (req, reply) => {
    const id = ctx.jobs.newId();
    try {
      let job: JobRecord;
      if (req.isMultipart()) {
        const up = await receiveUpload(ctx, req, id);
        const spec = checkJobSpec(up.spec, { uploaded: true });
        job = ctx.jobs.submit(id, spec, { data: up.data, uploaded: up.counts, ...otherInputs(ctx, spec) });
      } else {
        const body = Buffer.isBuffer(req.body) ? (() => { try { return JSON.parse(req.body.toString('utf8')); } catch { throw badRequest('BAD_JSON', 'the job must be JSON or multipart'); } })() : req.body;
        const spec = checkJobSpec(body, { uploaded: false });
        job = ctx.jobs.submit(id, spec, { data: resolveDataDir(ctx.dataRoot, spec.data!), ...otherInputs(ctx, spec) });
      }
      return reply.code(201).send(describeJob(job, ctx.jobs.eventsOf(id)));
    } catch (e) {
      fs.rmSync(ctx.jobs.jobDir(id), { recursive: true, force: true });
      throw e;
    }
  });
  app.get('/v1/jobs', { schema: { tags, summary: 'every job, newest first' } }, async () => ({ jobs: ctx.jobs.list().map((j) => describeJob(j, ctx.jobs.eventsOf(j.id))) }));
  app.get<P>('/v1/jobs/:id', { schema: { tags, summary: 'one job: state, progress, epoch metrics, result', params } }, async (req) => {
    const j = ctx.jobs.get(checkId(req.params.id));
    return describeJob(j, ctx.jobs.eventsOf(j.id));
  });
  app.delete<P>('/v1/jobs/:id', { schema: { tags, summary: 'cancel a queued or running job', params } }, async (req) => {
    const j = ctx.jobs.cancel(checkId(req.params.id));
    return describeJob(j, ctx.jobs.eventsOf(j.id));
  });
  app.get<P>('/v1/jobs/:id/events', { schema: { tags, summary: 'Server-Sent Events of a job (ends when it finishes)', params } }, async (req, reply) => {
    const job = ctx.jobs.get(checkId(req.params.id));
    const last = Number(req.headers['last-event-id'] ?? -1);
    if (!Number.isInteger(last) || last < -1) throw new HttpError(400, 'BAD_LAST_EVENT_ID', 'Last-Event-ID must be an event number');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (e: JobEvent) => res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    ctx.jobs.eventsOf(job.id).slice(last + 1).forEach(send);
    if (FINAL.has(job.state)) return void res.end();
    streams.add(res);
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    const stop = () => {
      clearInterval(ping);
      ctx.jobs.bus.off(job.id, listener);
      streams.delete(res);
    };
    const listener = (e: JobEvent) => {
      send(e);
      if (e.type === 'state' && FINAL.has(e.state)) {
        stop();
        res.end();
      }
    };
    ctx.jobs.bus.on(job.id, listener);
    res.on('close', stop);
  });
  registerThumbnails(app, ctx.jobs, checkId);
}
