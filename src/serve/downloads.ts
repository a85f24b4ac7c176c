/**
 * Downloads of a served model: the bundle folder as a .tar (ustar, written here: a bundle is a
 * handful of regular files) and its ONNX export (src/recipes/export.ts, made once per bundle
 * version and cached), which the web page runs in the browser with onnxruntime-web.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from './context.js';
import { HttpError } from './errors.js';

/** One 512-byte ustar header. */
function tarHeader(name: string, size: number, mtime: number, dir: boolean): Buffer {
  const h = Buffer.alloc(512);
  if (Buffer.byteLength(name) > 100) throw new HttpError(500, 'TAR_NAME', `bundle file name too long for tar: ${name}`);
  h.write(name, 0, 100, 'utf8');
  h.write(dir ? '0000755\0' : '0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write(Math.floor(mtime / 1000).toString(8).padStart(11, '0') + '\0', 136);
  h.write('        ', 148);
  h.write(dir ? '5' : '0', 156);
  h.write('ustar\0' + '00', 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

/** A folder (regular files and subfolders; symlinks skipped) as tar bytes under `prefix/`. */
export function tarFolder(dir: string, prefix: string): Buffer {
  const parts: Buffer[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const full = path.join(dir, r);
      const st = fs.lstatSync(full);
      if (st.isDirectory()) {
        parts.push(tarHeader(`${prefix}/${r}/`, 0, st.mtimeMs, true));
        walk(r);
      } else if (st.isFile()) {
        const b = fs.readFileSync(full);
        parts.push(tarHeader(`${prefix}/${r}`, b.length, st.mtimeMs, false), b, Buffer.alloc((512 - (b.length % 512)) % 512));
      }
    }
  };
  walk('');
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function registerDownloads(app: FastifyInstance, ctx: ServerContext): void {
  const tags = ['graft'];
  const params = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } as const;
  type P = { Params: { name: string } };
  const cache = path.join(os.tmpdir(), `graft-serve-onnx-${process.getuid?.() ?? 0}`);
  const exporting = new Map<string, Promise<string>>();

  app.get<P>('/v1/models/:name/bundle', { schema: { tags, summary: 'the bundle folder as a .tar', params } }, async (req, reply) => {
    const m = ctx.registry.get(req.params.name);
    return reply.type('application/x-tar').header('content-disposition', `attachment; filename="${m.name}.tar"`).send(tarFolder(path.join(ctx.registry.root, m.name), m.name));
  });
  app.get<P>('/v1/models/:name/onnx', { schema: { tags, summary: 'the model as one ONNX graph (float32 NHWC input → probabilities)', params } }, async (req, reply) => {
    const m = ctx.registry.get(req.params.name);
    const key = createHash('sha256').update(`${m.name}\0${m.signature}\0${m.created}`).digest('hex').slice(0, 16);
    const file = path.join(cache, `${m.name}-${key}.onnx`);
    if (!fs.existsSync(file)) {
      let p = exporting.get(file);
      if (!p) {
        p = (async () => {
          fs.mkdirSync(cache, { recursive: true });
          const { exportOnnx } = await import('../recipes/export.js');
          await exportOnnx(path.join(ctx.registry.root, m.name), file);
          return file;
        })().finally(() => exporting.delete(file));
        exporting.set(file, p);
      }
      try {
        await p;
      } catch (e) {
        throw new HttpError(422, 'EXPORT_FAILED', `model "${m.name}" cannot be exported to ONNX: ${(e as Error).message}`);
      }
    }
    return reply.type('application/octet-stream').header('content-disposition', `attachment; filename="${m.name}.onnx"`).send(fs.readFileSync(file));
  });
}
