// Federation basics that need no authentication.
import type { FastifyInstance } from 'fastify';
import { addRoute } from '../matrix-errors.js';

export function registerVersionRoute(app: FastifyInstance, version: string): void {
  const body = JSON.stringify({ server: { name: 'fedpeer', version } });
  addRoute(app, '/_matrix/federation/v1/version', { GET: (_req, reply) => reply.type('application/json').send(body) });
}
