// The Matrix error body: every failure a client sees is {errcode, error} with
// the spec's status code, never an HTML page.
export class MatrixError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'MatrixError';
  }

  toJSON(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

export const unrecognized = (message = 'Unrecognized request') => new MatrixError(404, 'M_UNRECOGNIZED', message);
export const methodNotAllowed = (message = 'Method not allowed') => new MatrixError(405, 'M_UNRECOGNIZED', message);
export const notFound = (message = 'Not found') => new MatrixError(404, 'M_NOT_FOUND', message);
export const unknownError = (message = 'Internal server error') => new MatrixError(500, 'M_UNKNOWN', message);
export const notJson = (message = 'Content not JSON') => new MatrixError(400, 'M_NOT_JSON', message);
export const badJson = (message: string) => new MatrixError(400, 'M_BAD_JSON', message);
export const unauthorized = (message: string) => new MatrixError(401, 'M_UNAUTHORIZED', message);
export const forbidden = (message: string) => new MatrixError(403, 'M_FORBIDDEN', message);
export const tooLarge = (message = 'Request body too large') => new MatrixError(413, 'M_TOO_LARGE', message);
export const limitExceeded = (retryAfterMs: number) =>
  new MatrixError(429, 'M_LIMIT_EXCEEDED', 'Too many requests', { retry_after_ms: retryAfterMs });
