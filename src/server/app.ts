// buildApp(config, services) -> a Fastify instance with the routes one
// listener asks for; it does not listen: listeners.ts hands
// requestListener(app) (static answers first, then Fastify) to node's servers.
import type { RequestListener } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { pinoAccessLog, type AccessLog } from '../logger.js';
import type { Config } from '../config/types.js';
import type { KeyPublisher } from './key-document.js';
import { installErrorHandlers, sendMatrixError } from './matrix-errors.js';
import { MatrixError } from '../matrix/errors.js';
import { registerKeyServerRoutes } from './routes/keys.js';
import { registerVersionRoute } from './routes/federation.js';
import { registerWellKnownRoutes } from './routes/well-known.js';
import { registerAcmeChallengeRoutes, type ChallengeLookup } from './routes/acme-challenge.js';
import { registerNotaryRoutes, type RemoteKeySource } from './routes/notary.js';
import { registerProfileRoute } from './routes/profile.js';
import { registerRoomRoutes, type RoomRouteDeps } from './routes/rooms.js';
import { xMatrixAuth, type VerifyKeyLookup } from './x-matrix-auth.js';
import type { VerifyKey } from '../matrix/signing.js';
import { installJsonBodyParser } from './json-body.js';
import { createRateLimiter, rateLimitHook } from './rate-limit.js';
import { parseServerName, urlHost } from '../matrix/server-name.js';
import { PACKAGE_VERSION } from '../version.js';
import { registerCheckPage, type CheckPageService } from './routes/check-page.js';
import { createStaticAnswers, requestIdGenerator, type StaticAnswers } from './static-answers.js';

export interface AppServices {
  keyPublisher: KeyPublisher;
  logger: Logger;
  /** Writes the per-request line; without it the line goes through `logger.info`. */
  accessLog?: AccessLog;
  /**
   * The outbound key store, handed in by the CLI (server/ does not build
   * federation/ parts): the notary answers from it and X-Matrix looks up
   * origin keys in it. Without it those routes are not offered.
   */
  remoteKeys?: RemoteKeySource & { lookupVerifyKey: VerifyKeyLookup; cachedVerifyKey?: (serverName: string, keyId: string) => VerifyKey | undefined };
  /** The built-in ACME client's HTTP-01 answers, for `type: acme` listeners. */
  challenges?: ChallengeLookup;
  /** The room peer, handed in by the CLI: its federation endpoints are served with the federation resource. */
  rooms?: RoomRouteDeps['peer'];
  /** The federation check, handed in by the CLI when check_page is enabled; without it there is no page. */
  checkPage?: CheckPageService;
  now?: () => number;
}

export interface AppOptions {
  /** Synapse resource names served by this listener: federation, keys, client. */
  resources: ReadonlySet<string>;
  /** Trust X-Forwarded-For/-Proto (the listener's `x_forwarded`) from limits.trusted_proxies. */
  trustProxy?: boolean;
  /** The listener type: 'http' (default) or 'acme' (HTTP-01 answers and a redirect to https, nothing else). */
  type?: string;
}

export const ALL_RESOURCES: ReadonlySet<string> = new Set(['federation', 'keys', 'client']);

// The listener-level answers of each app that has some (see requestListener).
const staticAnswers = new WeakMap<FastifyInstance, StaticAnswers>();

/**
 * The node request listener for `app`: its static answers first (the key
 * document), then Fastify's router.
 */
export function requestListener(app: FastifyInstance): RequestListener {
  const routing = app.routing as RequestListener;
  const answers = staticAnswers.get(app);
  if (!answers) return routing;
  return (req, res) => {
    if (!answers.answer(req, res)) routing(req, res);
  };
}

function noSchemaCompiler(): () => never {
  return () => {
    throw new Error('fedpeer routes take no JSON schema');
  };
}

/** A Fastify instance with fedpeer's error answers, JSON body parser and access line, and no routes (the control app builds on it too). */
export function baseApp(config: Config, log: Logger, accessLog: AccessLog, xForwarded: boolean, nextRequestId = requestIdGenerator()): FastifyInstance {
  // Only the configured proxies may say who the client is (rate limits are per client address).
  const trustProxy = xForwarded ? config.limits.trustedProxies : false;
  const app = Fastify({
    // Fastify gets no logger: it would build a child logger for every request
    // and write two lines per request. The onResponse hook below writes one
    // access line instead (docs/PERFORMANCE.md has what each costs).
    logger: false,
    genReqId: nextRequestId,
    bodyLimit: config.limits.bodyLimit,
    trustProxy,
    return503OnClosing: true,
    // Server names (up to 255 characters plus a port) travel as path parameters.
    routerOptions: { maxParamLength: 512 },
    // No route has a JSON schema (bodies are checked by hand, as Synapse
    // does), so Fastify's default compilers, ajv and fast-json-stringify, are
    // never needed: leaving them unloaded keeps a seventh of an idle
    // listener's memory (docs/PERFORMANCE.md).
    schemaController: { compilersFactory: { buildValidator: noSchemaCompiler, buildSerializer: noSchemaCompiler } },
    // Errors raised while routing (before any handler) are Matrix JSON too.
    frameworkErrors: (error, _request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      void sendMatrixError(reply, new MatrixError(tooLong ? 414 : 400, tooLong ? 'M_TOO_LARGE' : 'M_UNRECOGNIZED', tooLong ? 'Path segment too long' : 'Malformed request path'));
    },
  });
  installErrorHandlers(app, log);
  installJsonBodyParser(app);
  app.addHook('onResponse', (request, reply, done) => {
    accessLog(request.id, request.method, request.routeOptions.url ?? null, reply.statusCode, Math.round(reply.elapsedTime * 100) / 100);
    done();
  });
  return app;
}

/** The `type: acme` listener's app: HTTP-01 answers and a redirect to https. */
export async function buildAcmeApp(config: Config, services: Pick<AppServices, 'logger' | 'accessLog' | 'challenges'>, options: { trustProxy?: boolean } = {}): Promise<FastifyInstance> {
  const app = baseApp(config, services.logger, services.accessLog ?? pinoAccessLog(services.logger), options.trustProxy ?? false);
  registerAcmeChallengeRoutes(app, {
    ...(services.challenges ? { challenges: services.challenges } : {}),
    ...(config.acme.webroot !== undefined ? { webroot: config.acme.webroot } : {}),
    fallbackHost: urlHost(parseServerName(config.serverName)),
  });
  await app.ready();
  return app;
}

export async function buildApp(config: Config, services: AppServices, options: AppOptions = { resources: ALL_RESOURCES }): Promise<FastifyInstance> {
  if (options.type === 'acme') return buildAcmeApp(config, services, options);
  const accessLog = services.accessLog ?? pinoAccessLog(services.logger);
  const nextRequestId = requestIdGenerator();
  const app = baseApp(config, services.logger, accessLog, options.trustProxy ?? false, nextRequestId);
  const now = services.now ?? Date.now;
  // Synapse serves /.well-known with the client resource; fedpeer, which
  // has no client API, also with federation, the listener a delegating
  // domain's port 443 usually points at.
  if (options.resources.has('client') || options.resources.has('federation')) await registerWellKnownRoutes(app, config);
  const keysResource = options.resources.has('keys') || options.resources.has('federation');
  if (keysResource) {
    const answers = createStaticAnswers({ documents: registerKeyServerRoutes(app, services.keyPublisher), accessLog, nextRequestId });
    staticAnswers.set(app, answers);
    // Once the app closes, Fastify answers every request (503, return503OnClosing).
    app.addHook('preClose', (done) => {
      answers.close();
      done();
    });
  }
  if (keysResource && services.remoteKeys) {
    const limiter = createRateLimiter({ ...config.limits.rateLimit, now });
    registerNotaryRoutes(app, {
      serverName: config.serverName,
      publisher: services.keyPublisher,
      keys: services.remoteKeys,
      limits: config.notary,
      now,
      rateLimit: rateLimitHook(limiter),
      answerWithinMs: config.limits.requestTimeoutMs,
      logger: services.logger,
    });
  }
  if (options.resources.has('federation')) {
    registerVersionRoute(app, PACKAGE_VERSION);
    if (services.remoteKeys) {
      const remote = services.remoteKeys;
      const auth = xMatrixAuth({
        serverName: config.serverName,
        lookupKey: remote.lookupVerifyKey,
        ...(remote.cachedVerifyKey ? { cachedKey: remote.cachedVerifyKey } : {}),
        domainWhitelist: config.federationDomainWhitelist,
        answerWithinMs: config.limits.requestTimeoutMs,
      });
      registerProfileRoute(app, { serverName: config.serverName, users: config.testUsers, auth });
      if (services.rooms) registerRoomRoutes(app, { peer: services.rooms, auth });
    }
  }
  // The check page is for people (like the client resource) and federation admins.
  if (config.checkPage.enabled && services.checkPage && (options.resources.has('client') || options.resources.has('federation'))) {
    // Each check makes several outbound connections: a tenth of the general rate.
    const { perSecond, burst } = config.limits.rateLimit;
    const limiter = createRateLimiter({ perSecond: perSecond / 10, burst: Math.max(1, Math.floor(burst / 10)), now });
    registerCheckPage(app, { service: services.checkPage, limiter, answerWithinMs: config.limits.requestTimeoutMs });
  }
  await app.ready();
  return app;
}
