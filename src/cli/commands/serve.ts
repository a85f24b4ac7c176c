/** `graft serve --models DIR`: every bundle in DIR over HTTP (src/serve/server.ts). */
import { list, num, str } from '../args.js';
import { COMMON, ENGINE, engineOpts } from '../options.js';
import { defineCommand, omit, pick } from '../spec.js';
import { setInterruptHandler } from '../../util/signals.js';

const MB = 1 << 20;

export default defineCommand({
  name: 'serve',
  summary: 'serve every bundle in a folder over HTTP (Open Inference Protocol v2 + image upload), hot-reloaded',
  usage: ['graft serve --models DIR [--port N] [--host H --token T] [options]'],
  groups: [
    [
      'serve options',
      {
        models: { type: 'string', arg: 'DIR', help: 'folder of bundles; each is served under its folder name (required)' },
        port: { type: 'string', arg: 'N', default: '8080', help: 'TCP port (0: any free port)' },
        host: { type: 'string', arg: 'H', default: '127.0.0.1', help: 'interface; beyond loopback needs --token' },
        token: { type: 'string', arg: 'T', default: '$GRAFT_TOKEN', help: 'require "Authorization: Bearer T" (at least 16 characters)' },
        'max-batch': { type: 'string', arg: 'N', default: '16', help: 'dynamic batching: images per engine call (1: no batching)' },
        'max-delay': { type: 'string', arg: 'MS', default: '5', help: 'dynamic batching: longest a request waits for others' },
        cors: { type: 'string', arg: 'ORIGINS', default: 'none', help: 'comma-separated origins whose pages may call the API' },
        'rate-limit': { type: 'string', arg: 'N', default: '600', help: 'requests per minute per client (0: no limit)' },
        'max-body-mb': { type: 'string', arg: 'MB', default: '64', help: 'largest request body' },
        'max-image-mb': { type: 'string', arg: 'MB', default: '16', help: 'largest encoded image' },
        'max-pixels': { type: 'string', arg: 'N', default: '40000000', help: 'largest decoded image, width×height' },
        'max-images': { type: 'string', arg: 'N', default: '64', help: 'images per request' },
        'data-root': { type: 'string', arg: 'DIR', help: 'training jobs may name folders under DIR (else they upload images)' },
        jobs: { type: 'string', arg: 'DIR', default: 'DIR/.jobs of --models', help: 'where training jobs and their state are kept' },
      },
    ],
    ['engine options', pick(ENGINE, 'engine', 'threads')],
    ['common options', omit(COMMON, 'strict')],
  ],
  examples: ['graft serve --models ./models --port 8080', 'graft serve --models ./models --host 0.0.0.0 --token "$T"', 'curl -F image=@cat.jpg localhost:8080/v1/models/pets/predict'],
  async run(pos, v, r) {
    if (pos.length) throw new Error(`graft serve takes no positional arguments (got ${pos[0]}); use --models DIR`);
    const models = str(v, 'models');
    if (!models) throw new Error('graft serve needs --models DIR');
    const mb = (k: string) => (num(v, k) === undefined ? undefined : num(v, k)! * MB);
    const { startServer } = await import('../../serve/server.js');
    const s = await startServer({
      models,
      host: str(v, 'host'),
      port: num(v, 'port') ?? 8080,
      token: str(v, 'token') ?? process.env.GRAFT_TOKEN,
      batch: { maxBatch: num(v, 'max-batch'), maxDelayMs: num(v, 'max-delay') },
      rateLimit: num(v, 'rate-limit') ?? 600,
      cors: list(v, 'cors'),
      limits: { maxBodyBytes: mb('max-body-mb'), maxImageBytes: mb('max-image-mb'), maxPixels: num(v, 'max-pixels'), maxImagesPerRequest: num(v, 'max-images') },
      dataRoot: str(v, 'data-root'),
      jobsDir: str(v, 'jobs'),
      ...engineOpts(v),
      log: { info: (m) => r.info(m), warn: (m) => r.warn(m) },
    });
    const names = s.registry.list().map((e) => e.name);
    r.info(`graft serve: ${s.url} (${names.length} model(s): ${names.join(', ') || 'none yet'}; API docs ${s.url}/docs)`);
    if (v.json) process.stdout.write(JSON.stringify({ event: 'listening', url: s.url, models: names }) + '\n');
    await new Promise<void>((resolve) =>
      setInterruptHandler((sig) => {
        r.info(`${sig}: closing (again to quit now)`);
        resolve();
      }),
    );
    await s.close();
  },
});
