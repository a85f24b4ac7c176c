// Talking to graft serve: JSON requests with the bearer token (kept in localStorage), and a job's
// Server-Sent Events read with fetch (EventSource cannot send an Authorization header).
const TOKEN_KEY = 'graft.token';

export function token() {
  return localStorage.getItem(TOKEN_KEY) ?? '';
}
export function setToken(t) {
  localStorage.setItem(TOKEN_KEY, t);
}

function headers(extra = {}) {
  const t = token();
  return t ? { ...extra, authorization: `Bearer ${t}` } : extra;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
  }
}

export async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: headers(init.headers) });
  const type = res.headers.get('content-type') ?? '';
  const body = type.includes('json') ? await res.json() : await res.arrayBuffer();
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

/** Call onEvent(type, data) for each event of a job until the stream ends. */
export async function followJob(id, onEvent, signal) {
  const res = await fetch(`/v1/jobs/${id}/events`, { headers: headers(), signal });
  if (!res.ok) throw new ApiError(res.status, await res.json());
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let type = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) type = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data) onEvent(type, JSON.parse(data));
    }
  }
}

/** Save bytes as a file download. */
export function saveAs(bytes, name, type = 'application/octet-stream') {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
