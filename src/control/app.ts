// The app of a `type: control` listener: the control API behind its bearer
// token, and nothing else. The token is checked when the request arrives,
// before any body is read, so a caller without it costs a header parse.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/types.js';
import { pinoAccessLog, type AccessLog } from '../logger.js';
import { baseApp } from '../server/app.js';
import { bearerAuth } from './auth.js';
import { registerControlRoutes, type ControlDeps } from './routes.js';

export interface ControlAppDeps extends ControlDeps {
  token: string;
  accessLog?: AccessLog;
}

export async function buildControlApp(config: Config, deps: ControlAppDeps, options: { xForwarded?: boolean } = {}): Promise<FastifyInstance> {
  const app = baseApp(config, deps.logger, deps.accessLog ?? pinoAccessLog(deps.logger), options.xForwarded ?? false);
  app.addHook('onRequest', bearerAuth(deps.token));
  registerControlRoutes(app, deps);
  await app.ready();
  return app;
}
