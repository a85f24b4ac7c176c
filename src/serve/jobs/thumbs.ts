/**
 * `GET /v1/jobs/{id}/misclassified/{n}`: a thumbnail (PNG, at most 128 px) of the n-th test image
 * the job's finished model got wrong. The image is found by index into the job's own result
 * (`result.misclassified[n].file`, written by the recipe), never by a path from the client, and
 * must resolve (symlinks followed) to a file inside the job's data folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { badRequest, HttpError, notFound } from '../errors.js';
import type { JobManager } from './manager.js';

const THUMB_PX = 128;

/** The file of sample id `file` inside `dataDir`, or a 404 naming why there is none. */
export function misclassifiedFile(dataDir: string, file: string): string {
  const parts = file.split('/');
  if (file.startsWith('idx:') || path.isAbsolute(file) || file.includes('\\') || parts.some((p) => p === '..' || p === '' || p === '.')) {
    throw notFound('NO_THUMBNAIL', `test image "${file.slice(0, 100)}" is not a file inside the job's data folder`);
  }
  let root: string;
  let real: string;
  try {
    root = fs.realpathSync(dataDir);
    real = fs.realpathSync(path.join(root, ...parts));
  } catch {
    throw notFound('NO_THUMBNAIL', `test image "${file.slice(0, 100)}" is no longer in the job's data folder`);
  }
  if (!real.startsWith(root + path.sep)) throw notFound('NO_THUMBNAIL', `test image "${file.slice(0, 100)}" leads outside the job's data folder`);
  if (!fs.statSync(real).isFile()) throw notFound('NO_THUMBNAIL', `test image "${file.slice(0, 100)}" is not a file`);
  return real;
}

export function registerThumbnails(app: FastifyInstance, jobs: JobManager, checkId: (id: string) => string): void {
  const params = { type: 'object', properties: { id: { type: 'string' }, n: { type: 'string' } }, required: ['id', 'n'] } as const;
  app.get<{ Params: { id: string; n: string } }>('/v1/jobs/:id/misclassified/:n', { schema: { tags: ['training jobs'], summary: "thumbnail of the n-th misclassified test image of a finished job (index into the job's result.misclassified)", params } }, async (req, reply) => {
    const job = jobs.get(checkId(req.params.id));
    if (!/^\d{1,6}$/.test(req.params.n)) throw badRequest('BAD_INDEX', `"${req.params.n.slice(0, 20)}" is not an index into the job's misclassified list`);
    const list = job.result?.misclassified;
    if (job.state !== 'done' || !Array.isArray(list)) throw notFound('NO_THUMBNAIL', `job ${job.id} has no misclassified list (${job.state === 'done' ? `graft ${job.spec.recipe} does not write one` : `it is ${job.state}`})`);
    const n = Number(req.params.n);
    const entry = list[n] as { file?: unknown } | undefined;
    if (!entry || typeof entry.file !== 'string') throw notFound('NO_THUMBNAIL', `job ${job.id} lists ${list.length} misclassified test images; there is no #${n}`);
    const file = misclassifiedFile(job.data, entry.file);
    let png: Buffer;
    try {
      png = await sharp(file, { limitInputPixels: 50_000_000 }).resize(THUMB_PX, THUMB_PX, { fit: 'inside', withoutEnlargement: true }).png().toBuffer();
    } catch (e) {
      throw new HttpError(415, 'NOT_AN_IMAGE', `test image "${entry.file.slice(0, 100)}": ${(e as Error).message}`);
    }
    return reply.type('image/png').header('cache-control', 'private, max-age=3600').send(png);
  });
}
