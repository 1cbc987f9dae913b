// GET /_fedpeer/check: the federation check as a web page (check_page:
// {enabled: true}). Without server_name it shows the form; with one it
// shows the report (or, with format=json, the report's JSON). Each check
// is charged to the client's address before it runs, since it makes
// outbound requests on the visitor's behalf.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { limitExceeded, MatrixError } from '../../matrix/errors.js';
import { requestLifetime } from '../request-signal.js';
import { isValidServerName } from '../../matrix/server-name.js';
import { addRoute } from '../matrix-errors.js';
import type { RateLimiter } from '../rate-limit.js';

export const CHECK_PAGE_PATH = '/_fedpeer/check';

/** What the page needs from the check (src/check/page.ts provides it). */
export interface CheckPageService {
  form(opts?: { value?: string; error?: string }): string;
  /** Rejects with an error named QueueFullError when the queue is full, AbandonedError when `signal` (the visitor left) fired first. */
  report(serverName: string, context?: { client?: string; signal?: AbortSignal }): Promise<{ html: string; json: unknown }>;
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
  addRoute(app, CHECK_PAGE_PATH, {
    GET: async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const name = typeof query.server_name === 'string' ? query.server_name.trim() : '';
      if (name === '') return html(reply, 200, deps.service.form());
      if (!isValidServerName(name)) {
        return html(reply, 400, deps.service.form({ value: name, error: 'Not a valid server name: give a host name or IP address with an optional port, such as example.org or example.org:8448 (no https://, no user ID).' }));
      }
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
      let done: { html: string; json: unknown } | undefined;
      try {
        done = await Promise.race([deps.service.report(name, { client: request.ip, signal: left.signal }), late]);
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
      const { html: page, json } = done;
      if (query.format === 'json') return reply.type('application/json').header('cache-control', 'no-store').send(JSON.stringify(json));
      return html(reply, 200, page);
    },
  });
}
