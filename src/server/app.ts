// buildApp(config, services) -> a Fastify instance with the routes one
// listener asks for; it does not listen (listeners.ts binds it).
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
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
    loggerInstance: services.logger as FastifyBaseLogger,
    // One log line per request from the onResponse hook below instead of
    // Fastify's two, which halves the logging cost on the hot path.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.limits.bodyLimit,
    trustProxy: options.trustProxy ?? false,
    return503OnClosing: true,
  });
  installErrorHandlers(app);
  app.addHook('onResponse', (request, reply, done) => {
    request.log.info(
      { method: request.method, route: request.routeOptions.url ?? null, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 },
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
