// GET /_fedpeer/check: the federation check as a web page (check_page:
// {enabled: true}). Without server_name it shows the form; with one it
// shows the report (or, with format=json, the report's JSON). Beside it,
// matrix-federation-tester's API: api/report (its JSON) and
// api/federation-ok (GOOD or BAD), with CORS. Each check is charged to the
// client's address before it runs, since it makes outbound requests on the
// visitor's behalf; no_cache=1 skips the one-minute cache, at the same price.
// All three share one queue, fair per visitor, and answer within the bound.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { limitExceeded, MatrixError } from '../../matrix/errors.js';
import { requestLifetime } from '../request-signal.js';
import { isValidServerName } from '../../matrix/server-name.js';
import { addRoute } from '../matrix-errors.js';
import type { RateLimiter } from '../rate-limit.js';

export const CHECK_PAGE_PATH = '/_fedpeer/check';
/** matrix-federation-tester's two endpoints, under the page's path (docs/CHECK.md). */
export const CHECK_API_REPORT_PATH = `${CHECK_PAGE_PATH}/api/report`;
export const CHECK_API_OK_PATH = `${CHECK_PAGE_PATH}/api/federation-ok`;

/** Who asks, until when they wait, and whether the cache may answer. */
export interface CheckRequestContext {
  client?: string;
  signal?: AbortSignal;
  fresh?: boolean;
}

/** What the page needs from the check (src/check/page.ts provides it). */
export interface CheckPageService {
  form(opts?: { value?: string; error?: string }): string;
  /** Rejects with an error named QueueFullError when the queue is full, AbandonedError when `signal` (the visitor left) fired first. */
  report(serverName: string, context?: CheckRequestContext): Promise<{ html: string; json: unknown }>;
  /** As `report`, in matrix-federation-tester's shape. */
  tester(serverName: string, context?: CheckRequestContext): Promise<{ report: unknown; ok: boolean }>;
}

// As the tester sends them, so web apps built for it can call this too.
const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, OPTIONS',
  'access-control-allow-headers': 'Origin, X-Requested-With, Content-Type, Accept',
};

/** `no_cache=1` (or true): run the check again instead of answering from the one-minute cache. */
function fresh(query: Record<string, unknown>): boolean {
  return query.no_cache === '1' || query.no_cache === 'true';
}

// The page runs no script and loads nothing: whatever a checked server
// manages to put on it cannot act.
const HTML_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function html(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).headers(HTML_HEADERS).send(body);
}

export function registerCheckPage(app: FastifyInstance, deps: { service: CheckPageService; limiter: RateLimiter; answerWithinMs?: number }): void {
  const answerWithinMs = deps.answerWithinMs ?? 30_000;
  /** Charges the visitor, then runs `work` in the queue; a 503 when it cannot be done within the bound. */
  const checked = async <T>(request: FastifyRequest, reply: FastifyReply, name: string, work: (context: CheckRequestContext) => Promise<T>): Promise<T> => {
    const wait = deps.limiter.take(request.ip);
    if (wait > 0) {
      reply.header('retry-after', String(Math.ceil(wait / 1000)));
      throw limitExceeded(wait);
    }
    // Answered within the bound; the check goes on past it (its report is
    // cached for whoever asks next). A visitor who leaves before the answer
    // withdraws: a check nobody else waits for is dropped or cancelled.
    const lifetime = requestLifetime(reply, answerWithinMs);
    const left = new AbortController();
    const late = new Promise<undefined>((resolve) =>
      lifetime.signal.addEventListener(
        'abort',
        () => {
          if (!lifetime.timedOut) left.abort();
          resolve(undefined);
        },
        { once: true },
      ),
    );
    let done: T | undefined;
    try {
      done = await Promise.race([work({ client: request.ip, signal: left.signal, fresh: fresh(request.query as Record<string, unknown>) }), late]);
    } catch (e) {
      const what = (e as Error).name;
      if (what !== 'QueueFullError' && what !== 'AbandonedError') throw e;
    } finally {
      lifetime.done();
    }
    if (done === undefined) {
      reply.header('retry-after', '30');
      throw new MatrixError(503, 'M_LIMIT_EXCEEDED', `The check of ${name} could not be done now (too many checks waiting, or it took longer than ${answerWithinMs / 1000} s); try again in a while`, { retry_after_ms: 30_000 });
    }
    return done;
  };
  const api = (answer: (report: unknown, ok: boolean, reply: FastifyReply) => FastifyReply) => ({
    OPTIONS: async (_request: FastifyRequest, reply: FastifyReply) => reply.code(200).headers(CORS_HEADERS).send(''),
    GET: async (request: FastifyRequest, reply: FastifyReply) => {
      reply.headers(CORS_HEADERS).header('cache-control', 'no-store');
      const query = request.query as Record<string, unknown>;
      const name = typeof query.server_name === 'string' ? query.server_name.trim() : '';
      if (name === '') throw new MatrixError(400, 'M_MISSING_PARAM', 'Missing server_name parameter');
      const { report, ok } = await checked(request, reply, name, (context) => deps.service.tester(name, context));
      return answer(report, ok, reply);
    },
  });
  addRoute(app, CHECK_API_REPORT_PATH, api((report, _ok, reply) => reply.type('application/json').send(JSON.stringify(report, null, 2))));
  addRoute(app, CHECK_API_OK_PATH, api((_report, ok, reply) => reply.type('text/plain').send(ok ? 'GOOD' : 'BAD')));
  addRoute(app, CHECK_PAGE_PATH, {
    GET: async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const name = typeof query.server_name === 'string' ? query.server_name.trim() : '';
      if (name === '') return html(reply, 200, deps.service.form());
      if (!isValidServerName(name)) {
        return html(reply, 400, deps.service.form({ value: name, error: 'Not a valid server name: give a host name or IP address with an optional port, such as example.org or example.org:8448 (no https://, no user ID).' }));
      }
      const { html: page, json } = await checked(request, reply, name, (context) => deps.service.report(name, context));
      if (query.format === 'json') return reply.type('application/json').header('cache-control', 'no-store').send(JSON.stringify(json));
      return html(reply, 200, page);
    },
  });
}
