// Plain GETs of documents that are ready bytes (the key document) are
// answered in the listener itself, before Fastify's router. Routing, the
// request and reply objects and the hook chain were about a tenth of the key
// document's cost per request (docs/PERFORMANCE.md), and the key document is
// what every peer and notary fetches. The answer is the one the Fastify
// route gives (same status, headers and bytes, a test holds them to it), and
// it is logged the same way. Anything else goes to Fastify: other methods,
// a query string, a request with a body, and every request once the app
// starts closing (Fastify then answers 503).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessLog } from '../logger.js';

export interface StaticDocument {
  /** The route pattern Fastify registers for the path, as the access line names it. */
  route: string;
  contentType: string;
  /** The current bytes (called per request; the key publisher rebuilds its document when due). */
  body(): Buffer;
}

export interface StaticAnswers {
  /** Answers `req` when it is a plain GET of a listed path; false leaves it to Fastify. */
  answer(req: IncomingMessage, res: ServerResponse): boolean;
  /** From now on nothing is answered here. */
  close(): void;
}

export interface StaticAnswersOptions {
  /** Exact request paths (no query string) and their documents. */
  documents: ReadonlyMap<string, StaticDocument>;
  accessLog: AccessLog;
  /** The request id generator Fastify uses too, so ids stay unique across both paths. */
  nextRequestId: () => string;
}

export function createStaticAnswers(opts: StaticAnswersOptions): StaticAnswers {
  const { documents, accessLog, nextRequestId } = opts;
  let closed = false;
  // Headers are built once per body (the key document changes about twice a refresh interval).
  const headersFor = new WeakMap<Buffer, Record<string, string>>();
  return {
    answer(req, res) {
      if (closed || req.method !== 'GET') return false;
      const doc = documents.get(req.url ?? '');
      if (doc === undefined) return false;
      const { headers } = req;
      if (headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined) return false;
      const start = performance.now();
      const body = doc.body();
      let responseHeaders = headersFor.get(body);
      if (responseHeaders === undefined) {
        responseHeaders = { 'content-type': doc.contentType, 'content-length': String(body.length) };
        headersFor.set(body, responseHeaders);
      }
      res.writeHead(200, responseHeaders);
      res.end(body);
      accessLog(nextRequestId(), 'GET', doc.route, 200, Math.round((performance.now() - start) * 100) / 100);
      return true;
    },
    close() {
      closed = true;
    },
  };
}

/** Fastify's own request id format (`req-` and a base-36 counter kept within a small integer). */
export function requestIdGenerator(): () => string {
  let next = 0;
  return () => {
    next = (next + 1) & 0x7fffffff;
    return `req-${next.toString(36)}`;
  };
}
