/**
 * `graft serve`: fastify with its official plugins — multipart uploads, per-client rate limiting,
 * the OpenAPI document (/openapi.json) and its UI (/docs). Routes: Open Inference Protocol v2
 * (oip.ts), the plain endpoints (plain.ts). Every error is a JSON `{ error, code }` with a 4xx
 * status naming the problem (5xx only for a fault of the server itself).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { GRAFT_VERSION } from '../version.js';
import type { EngineName } from '../models/types.js';
import { bearerChecker, checkExposure } from './auth.js';
import type { BatchOptions } from './batcher.js';
import { DEFAULT_LIMITS, type Limits } from './context.js';
import { errorReply, HttpError } from './errors.js';
import { registerOip } from './oip.js';
import { registerPlain } from './plain.js';
import { ModelRegistry, type RegistryLog } from './registry.js';
import { JobManager } from './jobs/manager.js';
import { registerDownloads } from './downloads.js';
import { registerWeb } from './web.js';
import { registerJobs, type JobsContext } from './jobs/routes.js';
import fs from 'node:fs';
import path from 'node:path';

export interface ServeOptions {
  models: string;
  host?: string;
  port?: number;
  token?: string;
  batch?: Partial<BatchOptions>;
  limits?: Partial<Limits>;
  /** Origins whose pages may call the API (CORS); none by default. */
  cors?: string[];
  /** Requests per minute per client address; 0 = no limit. */
  rateLimit?: number;
  engine?: EngineName;
  threads?: number;
  /** Where training jobs are kept (default: DIR/.jobs of --models, which the registry ignores). */
  jobsDir?: string;
  /** Folder that job specs' `data` paths are confined to; none: jobs upload their images. */
  dataRoot?: string;
  /** Images per training upload. */
  maxTrainImages?: number;
  /** How often the models folder is polled for edits inside a bundle (it is also watched). */
  pollMs?: number;
  log?: RegistryLog;
}

export interface RunningServer {
  app: FastifyInstance;
  registry: ModelRegistry;
  jobs: JobManager;
  url: string;
  close(): Promise<void>;
}

export const DEFAULT_BATCH: BatchOptions = { maxBatch: 16, maxDelayMs: 5 };
const quietLog: RegistryLog = { info() {}, warn() {} };

/** Fastify's and multipart's limit errors, reworded to name the limit. */
const LIMIT_MESSAGES: Record<string, (l: Limits) => string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: (l) => `request body over the ${l.maxBodyBytes}-byte limit`,
  FST_REQ_FILE_TOO_LARGE: (l) => `an uploaded image is over the ${l.maxImageBytes}-byte image limit`,
  FST_FILES_LIMIT: (l) => `more than ${l.maxImagesPerRequest} images in one request`,
  FST_PARTS_LIMIT: (l) => `more than ${l.maxImagesPerRequest + 16} multipart parts`,
  FST_FIELDS_LIMIT: () => 'more than 16 multipart fields',
};

/** What the token guards: the API and its description (the web page's static files hold no data). */
const isApi = (p: string) => p.startsWith('/v1/') || p.startsWith('/v2') || p === '/openapi.json' || p.startsWith('/docs');

/** Paths anyone may fetch without the token (probes). */
const OPEN_PATHS = new Set(['/v2/health/live', '/v2/health/ready']);

export async function buildApp(ctx: JobsContext, opts: Pick<ServeOptions, 'token' | 'rateLimit' | 'cors'>): Promise<FastifyInstance> {
  const app = Fastify({ bodyLimit: ctx.limits.maxBodyBytes, logger: false, requestTimeout: 120_000, return503OnClosing: true });
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: ctx.limits.maxBodyBytes }, (_req, body, done) => done(null, body));
  app.setErrorHandler((e, req, reply) => {
    const { status, body } = errorReply(e);
    const limit = LIMIT_MESSAGES[body.code];
    if (limit) body.error = limit(ctx.limits);
    if (status >= 500) ctx.log.warn(`${req.method} ${req.url}: ${(e as Error).stack ?? String(e)}`);
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}`, code: 'NOT_FOUND' }));
  // Rate limiting runs before the token check, so wrong tokens count too (no free guessing).
  if (opts.rateLimit) {
    await app.register(rateLimit, {
      max: opts.rateLimit,
      timeWindow: 60_000,
      errorResponseBuilder: (_req, c) => new HttpError(429, 'RATE_LIMITED', `rate limit: ${c.max} requests per minute per client; retry in ${Math.ceil(c.ttl / 1000)} s`),
    });
  }
  if (opts.token) {
    const check = bearerChecker(opts.token);
    // preParsing: after the rate limiter's (route-level) onRequest hook, before any body is read.
    app.addHook('preParsing', async (req, _reply, payload) => {
      const p = req.url.split('?')[0];
      // A CORS preflight (OPTIONS) never carries credentials; it reveals nothing.
      if (isApi(p) && !OPEN_PATHS.has(p) && req.method !== 'OPTIONS') check(req.headers.authorization);
      return payload;
    });
  }
  if (opts.cors?.length) await app.register(cors, { origin: opts.cors, allowedHeaders: ['authorization', 'content-type', 'inference-header-content-length', 'last-event-id'], exposedHeaders: ['inference-header-content-length'] });
  await app.register(multipart, {
    limits: { fileSize: ctx.limits.maxImageBytes, files: ctx.limits.maxImagesPerRequest, fields: 16, fieldSize: 4096, parts: ctx.limits.maxImagesPerRequest + 16 },
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'graft serve', version: GRAFT_VERSION, description: 'Image classifiers trained with graft: Open Inference Protocol v2 and plain image upload.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      ...(opts.token ? { security: [{ bearer: [] }] } : {}),
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  registerOip(app, ctx);
  registerPlain(app, ctx);
  registerJobs(app, ctx);
  registerDownloads(app, ctx);
  await registerWeb(app);
  return app;
}

/** The keys whose value is set (so `{ a: undefined }` does not override a default). */
function defined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, x]) => x !== undefined)) as Partial<T>;
}

/** Load the models, start listening; `close()` stops both. */
export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const host = o.host ?? '127.0.0.1';
  checkExposure(host, o.token);
  const log = o.log ?? quietLog;
  const limits: Limits = { ...DEFAULT_LIMITS, ...defined(o.limits) };
  const batch: BatchOptions = { ...DEFAULT_BATCH, ...defined(o.batch) };
  for (const [k, x] of Object.entries({ ...limits, ...batch })) if (!(Number.isFinite(x) && x >= (k === 'maxDelayMs' ? 0 : 1))) throw new Error(`serve: ${k} must be a positive number, got ${x}`);
  if (o.dataRoot !== undefined && !fs.existsSync(o.dataRoot)) throw new Error(`--data-root ${o.dataRoot}: no such directory`);
  const registry = new ModelRegistry(o.models, { engine: o.engine, threads: o.threads, batch }, log);
  const jobs = new JobManager(o.jobsDir ?? path.join(registry.root, '.jobs'), registry.root, log, () => registry.rescan());
  const app = await buildApp({ registry, limits, log, jobs, dataRoot: o.dataRoot, maxTrainImages: o.maxTrainImages ?? 5000 }, o);
  await registry.start(o.pollMs);
  let url: string;
  try {
    url = await app.listen({ host, port: o.port ?? 8080 });
  } catch (e) {
    await jobs.close();
    await registry.close();
    throw e;
  }
  return {
    app,
    registry,
    jobs,
    url,
    async close() {
      await jobs.close(); // first: a job must not finish while open connections drain
      await app.close();
      await registry.close();
    },
  };
}
