// GET /_matrix/key/v2/server and its deprecated forms `/server/` and
// `/server/{keyId}`, which return the same document (Synapse 1.67 asks for
// `/server/ed25519%3A<id>` with the colon percent-encoded).
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { KeyPublisher } from '../key-document.js';
import { addRoute } from '../matrix-errors.js';
import type { StaticDocument } from '../static-answers.js';

const CONTENT_TYPE = 'application/json';
const FIXED_PATHS = ['/_matrix/key/v2/server', '/_matrix/key/v2/server/'];

/**
 * Registers the routes, and returns the paths without a parameter as ready
 * documents, which the listener answers itself (static-answers.ts).
 */
export function registerKeyServerRoutes(app: FastifyInstance, publisher: KeyPublisher): Map<string, StaticDocument> {
  const serve = (_req: unknown, reply: FastifyReply) => reply.type(CONTENT_TYPE).send(publisher.current().body);
  for (const url of [...FIXED_PATHS, '/_matrix/key/v2/server/:keyId']) {
    addRoute(app, url, { GET: serve });
  }
  return new Map(FIXED_PATHS.map((url) => [url, { route: url, contentType: CONTENT_TYPE, body: () => publisher.current().body }]));
}
