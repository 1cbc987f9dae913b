// The `type: acme` listener's routes: HTTP-01 answers under
// /.well-known/acme-challenge/<token> (RFC 8555 8.3), from the built-in
// client's challenge store or from files an external client (certbot
// --webroot, OpenBSD acme-client) wrote under acme.webroot; every other
// request is sent to https, since this listener is plain HTTP.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { notFound } from '../../matrix/errors.js';
import { addRoute, sendMatrixError } from '../matrix-errors.js';

/** What the route needs of a challenge store: token -> key authorization. */
export interface ChallengeLookup {
  get(token: string): string | undefined;
}

export interface AcmeChallengeOptions {
  challenges?: ChallengeLookup;
  /** Directory whose `.well-known/acme-challenge/<token>` files are served (certbot's --webroot layout). */
  webroot?: string;
  /** Host for the https redirect when the request names none. */
  fallbackHost: string;
}

// Tokens are base64url (RFC 8555 8.1); anything else, "..", "/" or "%2f"
// included, is refused before a path is ever built from it.
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

async function fromWebroot(webroot: string, token: string): Promise<string | undefined> {
  try {
    return await readFile(join(webroot, '.well-known', 'acme-challenge', token), 'utf8');
  } catch {
    return undefined;
  }
}

export function registerAcmeChallengeRoutes(app: FastifyInstance, opts: AcmeChallengeOptions): void {
  addRoute(app, `${CHALLENGE_PREFIX}:token`, {
    GET: async (request: FastifyRequest, reply: FastifyReply) => {
      const { token } = request.params as { token: string };
      const answer = TOKEN.test(token)
        ? (opts.challenges?.get(token) ?? (opts.webroot !== undefined ? await fromWebroot(opts.webroot, token) : undefined))
        : undefined;
      if (answer === undefined) return sendMatrixError(reply, notFound('No such ACME challenge'));
      return reply.type('application/octet-stream').send(answer.trim());
    },
  });
  const toHttps = (request: FastifyRequest, reply: FastifyReply) => {
    // request.hostname drops the port: the https side is on 443.
    const host = request.hostname || opts.fallbackHost;
    // 308 keeps the method and body, unlike 301.
    return reply.code(308).header('location', `https://${host}${request.url}`).send();
  };
  // HEAD comes with GET (Fastify's exposeHeadRoutes); '/*' matches '/' too.
  app.route({ method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url: '/*', handler: toHttps });
}
