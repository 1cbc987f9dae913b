// buildApp(config, services) -> a Fastify instance with the routes one
// listener asks for; it does not listen (listeners.ts binds it).
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import type { KeyPublisher } from './key-document.js';
import { installErrorHandlers } from './matrix-errors.js';
import { registerKeyServerRoutes } from './routes/keys.js';
import { registerVersionRoute } from './routes/federation.js';
import { PACKAGE_VERSION } from '../version.js';

export interface AppServices {
  keyPublisher: KeyPublisher;
  logger: Logger;
}

export interface AppOptions {
  /** Synapse resource names served by this listener: federation, keys, client. */
  resources: ReadonlySet<string>;
  /** Trust X-Forwarded-For/-Proto (the listener's `x_forwarded`). */
  trustProxy?: boolean;
}

export const ALL_RESOURCES: ReadonlySet<string> = new Set(['federation', 'keys', 'client']);

export async function buildApp(config: Config, services: AppServices, options: AppOptions = { resources: ALL_RESOURCES }): Promise<FastifyInstance> {
  const app = Fastify({
    // Fastify gets no logger: it would build a child logger for every request
    // and write two lines per request. The onResponse hook below writes one
    // line with the parent logger instead, which keeps the key server within
    // a few percent of a bare node:https server (docs/PERFORMANCE.md).
    logger: false,
    bodyLimit: config.limits.bodyLimit,
    trustProxy: options.trustProxy ?? false,
    return503OnClosing: true,
  });
  const log = services.logger;
  installErrorHandlers(app, log);
  app.addHook('onResponse', (request, reply, done) => {
    log.info(
      { reqId: request.id, method: request.method, route: request.routeOptions.url ?? null, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 },
      'request',
    );
    done();
  });
  if (options.resources.has('keys') || options.resources.has('federation')) {
    registerKeyServerRoutes(app, services.keyPublisher);
  }
  if (options.resources.has('federation')) registerVersionRoute(app, PACKAGE_VERSION);
  await app.ready();
  return app;
}
