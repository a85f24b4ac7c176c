/**
 * The web app (web/ at the package root: plain HTML, CSS and ES modules, nothing to build) and
 * the three onnxruntime-web files it needs to run exported models in the browser (wasm backend).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';

/** web/ beside src/ and dist/ (this file is src/serve/web.ts or dist/serve/web.js). */
export const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

const ORT_FILES: Record<string, string> = {
  'ort.wasm.min.mjs': 'text/javascript',
  'ort-wasm-simd-threaded.mjs': 'text/javascript',
  'ort-wasm-simd-threaded.wasm': 'application/wasm',
};

function ortDist(): string | undefined {
  try {
    return path.dirname(fileURLToPath(import.meta.resolve('onnxruntime-web')));
  } catch {
    return undefined;
  }
}

export async function registerWeb(app: FastifyInstance): Promise<void> {
  if (fs.existsSync(WEB_ROOT)) await app.register(fastifyStatic, { root: WEB_ROOT, prefix: '/', index: 'index.html', wildcard: false });
  const dist = ortDist();
  app.get<{ Params: { file: string } }>('/vendor/ort/:file', { schema: { hide: true } }, async (req, reply) => {
    const type = ORT_FILES[req.params.file];
    if (!type || !dist) return reply.code(404).send({ error: `no file ${req.params.file.slice(0, 64)} (onnxruntime-web ${dist ? 'has' : 'is not installed; it has'} ${Object.keys(ORT_FILES).join(', ')})`, code: 'NOT_FOUND' });
    return reply.type(type).header('cache-control', 'public, max-age=86400').send(fs.createReadStream(path.join(dist, req.params.file)));
  });
}
