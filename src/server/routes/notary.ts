// The notary endpoints (spec: "Querying Keys Through Another Server"):
// GET /_matrix/key/v2/query/{serverName} and POST /_matrix/key/v2/query.
// Our own keys are answered locally; others come from the key source handed
// in (cache when fresh enough, fetched otherwise, the last good answer when
// the server is unreachable). Each returned document keeps the origin's
// signature and gains ours.
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { NotaryConfig } from '../../config/types.js';
import type { VerifiedServerKeys } from '../../matrix/server-keys.js';
import { isValidServerName } from '../../matrix/server-name.js';
import { signJson } from '../../matrix/signing.js';
import { badJson, MatrixError } from '../../matrix/errors.js';
import type { KeyPublisher } from '../key-document.js';
import { addRoute } from '../matrix-errors.js';

/** What the notary needs from the outbound key store (satisfied by federation/keys.ts). */
export interface RemoteKeySource {
  getServerKeys(
    serverName: string,
    opts: { fresh: (k: VerifiedServerKeys) => boolean; keepStale: boolean; notaries: boolean },
  ): Promise<{ keys?: VerifiedServerKeys }>;
}

export interface NotaryDeps {
  serverName: string;
  publisher: KeyPublisher;
  keys: RemoteKeySource;
  limits: NotaryConfig;
  now: () => number;
  /** Charged once per request (the notary fetches on the caller's behalf). */
  rateLimit?: preHandlerAsyncHookHandler;
}

/** One server asked for: the key ids wanted (empty: all) and the strictest minimum_valid_until_ts. */
export interface KeyQuery {
  server: string;
  keyIds: string[];
  minimum?: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseQueryBody(body: unknown, limits: NotaryConfig): KeyQuery[] {
  if (!isObject(body)) throw badJson('Request body must be a JSON object');
  if (!isObject(body.server_keys)) throw badJson('"server_keys" must be an object of server name -> key id -> criteria');
  const servers = Object.entries(body.server_keys);
  if (servers.length > limits.maxServers) {
    throw new MatrixError(400, 'M_BAD_JSON', `Too many servers in one query: ${servers.length}, at most ${limits.maxServers}`);
  }
  return servers.map(([server, keys]) => {
    if (!isObject(keys)) throw badJson(`server_keys.${server} must be an object of key id -> criteria`);
    const entries = Object.entries(keys);
    if (entries.length > limits.maxKeysPerServer) {
      throw new MatrixError(400, 'M_BAD_JSON', `Too many key ids for ${server}: ${entries.length}, at most ${limits.maxKeysPerServer}`);
    }
    let minimum: number | undefined;
    for (const [keyId, c] of entries) {
      if (!isObject(c)) throw badJson(`server_keys.${server}.${keyId} must be an object`);
      const min = c.minimum_valid_until_ts;
      if (min === undefined) continue;
      if (!Number.isSafeInteger(min)) throw badJson(`server_keys.${server}.${keyId}.minimum_valid_until_ts must be an integer`);
      minimum = Math.max(minimum ?? -Infinity, min as number);
    }
    return minimum === undefined ? { server, keyIds: entries.map(([k]) => k) } : { server, keyIds: entries.map(([k]) => k), minimum };
  });
}

/**
 * Synapse's freshness rule for cached keys: at least the asked
 * minimum_valid_until_ts, or, when none is asked, less than half of the
 * document's lifetime gone.
 */
export function freshEnough(minimum: number | undefined, now: number): (k: VerifiedServerKeys) => boolean {
  if (minimum !== undefined) return (k) => k.validUntilTs >= minimum;
  return (k) => now < k.receivedTs + (k.validUntilTs - k.receivedTs) / 2;
}

export function registerNotaryRoutes(app: FastifyInstance, deps: NotaryDeps): void {
  const vouch = (doc: Record<string, unknown>) => {
    let out = doc;
    for (const key of deps.publisher.signingKeys()) out = signJson(out, deps.serverName, key);
    return out;
  };

  async function one(q: KeyQuery): Promise<Record<string, unknown> | undefined> {
    // An invalid server name is left out, never fetched.
    if (!isValidServerName(q.server)) return undefined;
    if (q.server === deps.serverName) return deps.publisher.current().object;
    const r = await deps.keys.getServerKeys(q.server, { fresh: freshEnough(q.minimum, deps.now()), keepStale: true, notaries: false });
    const keys = r.keys;
    if (!keys) return undefined;
    if (q.keyIds.length > 0 && !q.keyIds.some((id) => id in keys.verifyKeys || id in keys.oldVerifyKeys)) return undefined;
    return vouch(keys.document);
  }

  const answer = async (reply: FastifyReply, queries: KeyQuery[]) => {
    const docs = await Promise.all(queries.map(one));
    return reply.type('application/json').send({ server_keys: docs.filter((d) => d !== undefined) });
  };

  addRoute(
    app,
    '/_matrix/key/v2/query',
    { POST: (request: FastifyRequest, reply: FastifyReply) => answer(reply, parseQueryBody(request.body, deps.limits)) },
    { bodyLimit: deps.limits.maxBodySize, ...(deps.rateLimit ? { preHandler: deps.rateLimit } : {}) },
  );
  const getOne = (request: FastifyRequest, reply: FastifyReply) => {
    const { serverName, keyId } = request.params as { serverName: string; keyId?: string };
    const q = (request.query as Record<string, unknown>).minimum_valid_until_ts;
    if (q !== undefined && (typeof q !== 'string' || !/^\d{1,16}$/.test(q))) {
      throw new MatrixError(400, 'M_INVALID_PARAM', 'minimum_valid_until_ts must be an integer');
    }
    const query: KeyQuery = { server: serverName, keyIds: keyId ? [keyId] : [] };
    if (q !== undefined) query.minimum = Number(q);
    return answer(reply, [query]);
  };
  const routeOptions = deps.rateLimit ? { preHandler: deps.rateLimit } : {};
  addRoute(app, '/_matrix/key/v2/query/:serverName', { GET: getOne }, routeOptions);
  // Deprecated form with a key id, still sent by older servers.
  addRoute(app, '/_matrix/key/v2/query/:serverName/:keyId', { GET: getOne }, routeOptions);
}
