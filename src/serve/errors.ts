/**
 * Errors the server answers with: an HTTP status and a message naming the problem. Every error
 * reply is `{ "error": message, "code": CODE }` (the Open Inference Protocol's error object plus a
 * stable machine-readable code).
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (code: string, message: string) => new HttpError(400, code, message);
export const notFound = (code: string, message: string) => new HttpError(404, code, message);
export const tooLarge = (code: string, message: string) => new HttpError(413, code, message);
export const unsupported = (code: string, message: string) => new HttpError(415, code, message);

export interface ErrorBody {
  error: string;
  code: string;
}

/** Status and body for anything thrown in a handler (fastify's own errors carry statusCode/code). */
export function errorReply(e: unknown): { status: number; body: ErrorBody } {
  if (e instanceof HttpError) return { status: e.status, body: { error: e.message, code: e.code } };
  const fe = e as { statusCode?: number; code?: string; message?: string; validation?: unknown };
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { error: fe.message ?? 'bad request', code: fe.validation ? 'INVALID_REQUEST' : (fe.code ?? 'BAD_REQUEST') } };
  }
  return { status: 500, body: { error: `internal error: ${(e as Error)?.message ?? String(e)}`, code: 'INTERNAL' } };
}
