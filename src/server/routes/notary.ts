// The notary endpoints (spec: "Querying Keys Through Another Server"):
// GET /_matrix/key/v2/query/{serverName} and POST /_matrix/key/v2/query.
// Our own keys are answered locally; others come from the key source handed
// in (cache when fresh enough, fetched otherwise, the last good answer when
// the server is unreachable). Each returned document keeps the origin's
// signature and gains ours.
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Logger } from 'pino';
import type { NotaryConfig } from '../../config/types.js';
import type { VerifiedServerKeys } from '../../matrix/server-keys.js';
import { isValidServerName, normaliseServerName } from '../../matrix/server-name.js';
import { signJson } from '../../matrix/signing.js';
import { badJson, MatrixError } from '../../matrix/errors.js';
import type { KeyPublisher } from '../key-document.js';
import { addRoute } from '../matrix-errors.js';
import { requestLifetime } from '../request-signal.js';

/** What the notary needs from the outbound key store (satisfied by federation/keys.ts). */
export interface RemoteKeySource {
  getServerKeys(
    serverName: string,
    opts: {
      fresh: (k: VerifiedServerKeys) => boolean;
      keepStale: boolean;
      notaries: boolean;
      /** Cached keys with none of these ids count as a miss (within the store's refetch throttle). */
      keyIds?: readonly string[];
      /** The client's address: fetches are shared fairly between clients. */
      requester?: string;
      signal?: AbortSignal;
    },
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
  /** The answer is sent within this (limits.request_timeout): servers not fetched by then are left out. */
  answerWithinMs?: number;
  logger?: Pick<Logger, 'warn'>;
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
  // Letter-case variants of one name are one server: asked once, answered once.
  const merged = new Map<string, KeyQuery>();
  for (const q of servers.map(([server, keys]) => {
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
  })) {
    const key = normaliseServerName(q.server);
    const seen = merged.get(key);
    if (!seen) merged.set(key, q);
    else {
      seen.keyIds = seen.keyIds.length === 0 || q.keyIds.length === 0 ? [] : [...new Set([...seen.keyIds, ...q.keyIds])];
      if (q.minimum !== undefined) seen.minimum = Math.max(seen.minimum ?? -Infinity, q.minimum);
    }
  }
  return [...merged.values()];
}

/**
 * Synapse's freshness rule for cached keys: at least the asked
 * minimum_valid_until_ts, or, when none is asked, less than half of the
 * document's lifetime gone. The lifetime counted is the one fedpeer trusts
 * (valid_until_ts capped at 7 days after receipt), so a document claiming
 * validity until the year 275760 is not served as fresh for ever.
 */
export function freshEnough(minimum: number | undefined, now: number): (k: VerifiedServerKeys) => boolean {
  if (minimum !== undefined) return (k) => k.effectiveValidUntilTs >= minimum;
  return (k) => now < k.receivedTs + (k.effectiveValidUntilTs - k.receivedTs) / 2;
}

export function registerNotaryRoutes(app: FastifyInstance, deps: NotaryDeps): void {
  const vouch = (doc: Record<string, unknown>) => {
    let out = doc;
    for (const key of deps.publisher.signingKeys()) out = signJson(out, deps.serverName, key);
    return out;
  };

  const own = normaliseServerName(deps.serverName);

  async function one(q: KeyQuery, requester: string, signal: AbortSignal): Promise<Record<string, unknown> | undefined> {
    // An invalid server name is left out, never fetched.
    if (!isValidServerName(q.server)) return undefined;
    if (normaliseServerName(q.server) === own) return deps.publisher.current().object;
    const r = await deps.keys.getServerKeys(q.server, {
      fresh: freshEnough(q.minimum, deps.now()),
      keepStale: true,
      notaries: false,
      keyIds: q.keyIds,
      requester,
      signal,
    });
    const keys = r.keys;
    if (!keys) return undefined;
    if (q.keyIds.length > 0 && !q.keyIds.some((id) => id in keys.verifyKeys || id in keys.oldVerifyKeys)) return undefined;
    try {
      return vouch(keys.document);
    } catch (e) {
      // One entry that cannot be signed is left out; the others are still answered.
      deps.logger?.warn({ err: e, server: q.server }, 'notary: cannot sign a cached key document; left out');
      return undefined;
    }
  }

  const answerWithinMs = deps.answerWithinMs ?? 30_000;
  const answer = async (request: FastifyRequest, reply: FastifyReply, queries: KeyQuery[]) => {
    const lifetime = requestLifetime(reply, answerWithinMs);
    // At the bound, servers still being fetched are left out: the answer is not held up by the slowest.
    const deadline = new Promise<undefined>((resolve) => lifetime.signal.addEventListener('abort', () => resolve(undefined), { once: true }));
    try {
      const docs = await Promise.all(queries.map((q) => Promise.race([one(q, request.ip, lifetime.signal), deadline])));
      return reply.type('application/json').send({ server_keys: docs.filter((d) => d !== undefined) });
    } finally {
      lifetime.done();
    }
  };

  addRoute(
    app,
    '/_matrix/key/v2/query',
    { POST: (request: FastifyRequest, reply: FastifyReply) => answer(request, reply, parseQueryBody(request.body, deps.limits)) },
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
    return answer(request, reply, [query]);
  };
  const routeOptions = deps.rateLimit ? { preHandler: deps.rateLimit } : {};
  addRoute(app, '/_matrix/key/v2/query/:serverName', { GET: getOne }, routeOptions);
  // Deprecated form with a key id, still sent by older servers.
  addRoute(app, '/_matrix/key/v2/query/:serverName/:keyId', { GET: getOne }, routeOptions);
}
