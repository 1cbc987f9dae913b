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
import { registerNotaryRoutes, type RemoteKeySource } from './routes/notary.js';
import { registerProfileRoute } from './routes/profile.js';
import { xMatrixAuth, type VerifyKeyLookup } from './x-matrix-auth.js';
import { notJson } from '../matrix/errors.js';
import { createRateLimiter, rateLimitHook } from './rate-limit.js';
import { registerCheckPage, type CheckPageService } from './routes/check-page.js';

export interface AppServices {
  keyPublisher: KeyPublisher;
  logger: Logger;
  /**
   * The outbound key store, handed in by the CLI (server/ does not build
   * federation/ parts): the notary answers from it and X-Matrix looks up
   * origin keys in it. Without it those routes are not offered.
   */
  remoteKeys?: RemoteKeySource & { lookupVerifyKey: VerifyKeyLookup };
  /** The federation check, handed in by the CLI when check_page is enabled; without it there is no page. */
  checkPage?: CheckPageService;
  now?: () => number;
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
  // Synapse reads federation bodies as JSON whatever their Content-Type says;
  // so does fedpeer, and what is not JSON gets 400 M_NOT_JSON.
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string));
    } catch {
      done(notJson('Content not JSON'), undefined);
    }
  });
  const now = services.now ?? Date.now;
  const keysResource = options.resources.has('keys') || options.resources.has('federation');
  if (keysResource) registerKeyServerRoutes(app, services.keyPublisher);
  if (keysResource && services.remoteKeys) {
    const limiter = createRateLimiter({ ...config.limits.rateLimit, now });
    registerNotaryRoutes(app, {
      serverName: config.serverName,
      publisher: services.keyPublisher,
      keys: services.remoteKeys,
      limits: config.notary,
      now,
      rateLimit: rateLimitHook(limiter),
    });
  }
  if (options.resources.has('federation')) {
    registerVersionRoute(app, PACKAGE_VERSION);
    if (services.remoteKeys) {
      const auth = xMatrixAuth({ serverName: config.serverName, lookupKey: services.remoteKeys.lookupVerifyKey, domainWhitelist: config.federationDomainWhitelist });
      registerProfileRoute(app, { serverName: config.serverName, users: config.testUsers, auth });
    }
  }
  // The check page is for people (like the client resource) and federation admins.
  if (config.checkPage.enabled && services.checkPage && (options.resources.has('client') || options.resources.has('federation'))) {
    // Each check makes several outbound connections: a tenth of the general rate.
    const { perSecond, burst } = config.limits.rateLimit;
    const limiter = createRateLimiter({ perSecond: perSecond / 10, burst: Math.max(1, Math.floor(burst / 10)), now });
    registerCheckPage(app, { service: services.checkPage, limiter });
  }
  await app.ready();
  return app;
}
