// Every error leaves the server as Matrix JSON. Fastify's own errors (bad
// JSON, body too large, wrong content type) are mapped to the spec's codes;
// anything unexpected becomes 500 M_UNKNOWN and is logged with its stack.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Logger } from 'pino';
import { MatrixError, methodNotAllowed, unrecognized } from '../matrix/errors.js';

const FASTIFY_CODES: Record<string, [number, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'M_NOT_JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'M_NOT_JSON'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'M_TOO_LARGE'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'M_UNRECOGNIZED'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'M_BAD_JSON'],
  FST_ERR_VALIDATION: [400, 'M_BAD_JSON'],
};

export function sendMatrixError(reply: FastifyReply, err: MatrixError): FastifyReply {
  return reply.code(err.status).type('application/json').send(JSON.stringify(err.toJSON()));
}

export function installErrorHandlers(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof MatrixError) return sendMatrixError(reply, error);
    const mapped = error.code ? FASTIFY_CODES[error.code] : undefined;
    if (mapped) return sendMatrixError(reply, new MatrixError(mapped[0], mapped[1], error.message));
    if (error instanceof SyntaxError && (error as { statusCode?: number }).statusCode === 400) {
      return sendMatrixError(reply, new MatrixError(400, 'M_NOT_JSON', error.message));
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      return sendMatrixError(reply, new MatrixError(error.statusCode, 'M_UNKNOWN', error.message));
    }
    logger.error({ err: error, reqId: request.id, method: request.method, url: request.url }, 'unhandled error');
    return sendMatrixError(reply, new MatrixError(500, 'M_UNKNOWN', 'Internal server error'));
  });
  app.setNotFoundHandler((_request, reply) => sendMatrixError(reply, unrecognized()));
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
type Method = (typeof METHODS)[number];
type Handler = (request: FastifyRequest, reply: FastifyReply) => unknown;

/**
 * Registers the handlers of one path, and 405 M_UNRECOGNIZED for every other
 * method on it, as the spec asks (Fastify alone would answer 404). HEAD comes
 * with GET.
 */
export function addRoute(
  app: FastifyInstance,
  url: string,
  handlers: Partial<Record<Method, Handler>>,
  options: { bodyLimit?: number; preHandler?: preHandlerAsyncHookHandler } = {},
): void {
  for (const [method, handler] of Object.entries(handlers) as Array<[Method, Handler]>) {
    app.route({ method, url, handler, ...options });
  }
  const others = METHODS.filter((m) => !(m in handlers));
  if (others.length > 0) {
    app.route({ method: [...others], url, handler: (_req, reply) => sendMatrixError(reply, methodNotAllowed()) });
  }
}
