/** A static file server on 127.0.0.1 (random port) for the client tests: what a web app or CDN would do. */
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

export interface Served {
  url: string;
  /** Every path requested (to prove what a client fetched). */
  requests: string[];
  close(): Promise<void>;
}

/** Serve `mounts` (URL prefix → directory) on 127.0.0.1; unknown paths are 404. */
export async function serveDirs(mounts: Record<string, string>): Promise<Served> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const u = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(u);
    const prefix = Object.keys(mounts)
      .filter((p) => u.startsWith(p))
      .sort((a, b) => b.length - a.length)[0];
    const root = prefix !== undefined ? mounts[prefix]! : undefined;
    const file = root ? path.join(root, u.slice(prefix!.length)) : undefined;
    if (!file || !file.startsWith(path.resolve(root!)) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(() => r())) };
}
