// The per-request access line (request id, method, route, status, ms),
// written from the node request listener rather than a Fastify onResponse
// hook: any onResponse hook makes Fastify set up response listeners and run
// a hook chain on every response (docs/PERFORMANCE.md has what it cost). A
// response that is complete when Fastify returns (every synchronous route,
// the key server's included) is logged at once; any other when it closes.
//
// The request id and the route pattern reach the listener through two
// module slots that Fastify fills while it routes the request, synchronously
// inside `routing()`: its genReqId (`requestId` below) and an onRequest hook
// that `tagRoutes` puts first on every route. The listener clears them
// before and reads them right after `routing()`, so a request can never be
// logged with another's id or route.
import type { RequestListener } from 'node:http';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import type { AccessLog } from '../logger.js';

let lastId = 0;
let routedId = '-';
let routedRoute: string | null = null;

/** Fastify's genReqId: ids in Fastify's own form (`req-` and a base-36 counter). */
export function requestId(): string {
  routedId = `req-${(++lastId).toString(36)}`;
  return routedId;
}

/** Records each request's route pattern while it is routed; call before any route is added. */
export function tagRoutes(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const url = route.url;
    const tag: onRequestHookHandler = (_request, _reply, done) => {
      routedRoute = url;
      done();
    };
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [tag, ...own];
  });
}

/**
 * The app's request listener with the access line: `ms` runs from the
 * request's arrival to the response being handed to the socket; a client
 * that goes away before its response is complete is logged with status 499
 * (nginx's "client closed request").
 */
export function accessLogged(routing: RequestListener, log: AccessLog): RequestListener {
  return (req, res) => {
    const start = performance.now();
    routedId = '-';
    routedRoute = null;
    routing(req, res);
    const id = routedId;
    const route = routedRoute;
    if (res.writableEnded) {
      log(id, req.method ?? '', route, res.statusCode, Math.round((performance.now() - start) * 100) / 100);
      return;
    }
    res.once('close', () => log(id, req.method ?? '', route, res.writableEnded ? res.statusCode : 499, Math.round((performance.now() - start) * 100) / 100));
  };
}
