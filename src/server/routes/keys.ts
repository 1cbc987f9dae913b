// GET /_matrix/key/v2/server and its deprecated forms `/server/` and
// `/server/{keyId}`, which return the same document (Synapse 1.67 asks for
// `/server/ed25519%3A<id>` with the colon percent-encoded).
import type { FastifyInstance } from 'fastify';
import type { KeyPublisher } from '../key-document.js';
import { addRoute } from '../matrix-errors.js';

export function registerKeyServerRoutes(app: FastifyInstance, publisher: KeyPublisher): void {
  const serve = (_req: unknown, reply: import('fastify').FastifyReply) =>
    reply.type('application/json').send(publisher.current().body);
  for (const url of ['/_matrix/key/v2/server', '/_matrix/key/v2/server/', '/_matrix/key/v2/server/:keyId']) {
    addRoute(app, url, { GET: serve });
  }
}
