// Inbound request authentication: a Fastify preHandler that any federation
// route can require. It reads every Authorization header (a request may carry
// several), checks that they name one origin and, when they name one, this
// server as destination, then verifies a signature with the origin's current
// key (verify_keys only: old_verify_keys never authenticate requests).
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { parseXMatrixHeader, requestSignedBytes, checkDetached, XMatrixParseError, type VerifyKey, type XMatrixAuth } from '../matrix/signing.js';
import { isValidServerName } from '../matrix/server-name.js';
import { forbidden, unauthorized } from '../matrix/errors.js';
import { requestLifetime } from './request-signal.js';

/**
 * The origin's current verify key for a key id, or why there is none (no
 * such key, or the origin's keys could not be fetched, and why): the reason
 * goes into the 401, which the origin's users see.
 */
export type VerifyKeyLookup = (serverName: string, keyId: string, opts?: { signal?: AbortSignal }) => Promise<{ key: VerifyKey } | { key: null; reason: string }>;

export interface XMatrixAuthOptions {
  serverName: string;
  lookupKey: VerifyKeyLookup;
  /** Synapse's federation_domain_whitelist: when set, only these origins are served. */
  domainWhitelist?: readonly string[] | null;
  /** The key when it is cached and valid, without waiting: the common case costs no timer or promise. */
  cachedKey?: (serverName: string, keyId: string) => VerifyKey | undefined;
  /** A key lookup that fetches gives up after this (limits.request_timeout), or when the client leaves. */
  answerWithinMs?: number;
}

/**
 * X-Matrix headers read from one request. The spec lets an origin sign with
 * several keys, one header each; more than this is not a real server.
 */
export const MAX_X_MATRIX_HEADERS = 4;

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated origin server, set by the X-Matrix preHandler. */
    xMatrixOrigin?: string;
  }
}

// req.headers keeps only the first Authorization header; rawHeaders has them all.
function authorizationHeaders(request: FastifyRequest): string[] {
  const raw = request.raw.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.length === 13 && raw[i]!.toLowerCase() === 'authorization') out.push(raw[i + 1]!);
  return out;
}

export function parseRequestAuth(headers: string[]): XMatrixAuth[] {
  const auths: XMatrixAuth[] = [];
  for (const h of headers) {
    let parsed: XMatrixAuth | null;
    try {
      parsed = parseXMatrixHeader(h);
    } catch (e) {
      if (e instanceof XMatrixParseError) throw unauthorized(`Malformed X-Matrix Authorization header: ${e.message}`);
      throw e;
    }
    if (parsed) auths.push(parsed);
  }
  if (auths.length === 0) throw unauthorized('Missing X-Matrix Authorization header');
  if (auths.length > MAX_X_MATRIX_HEADERS) throw unauthorized(`${auths.length} X-Matrix Authorization headers; at most ${MAX_X_MATRIX_HEADERS} are accepted`);
  const origin = auths[0]!.origin;
  if (auths.some((a) => a.origin !== origin)) throw unauthorized('X-Matrix Authorization headers name different origins');
  if (!isValidServerName(origin)) throw unauthorized(`X-Matrix origin is not a valid server name: ${JSON.stringify(origin)}`);
  return auths;
}

export function xMatrixAuth(opts: XMatrixAuthOptions): preHandlerAsyncHookHandler {
  return async function requireXMatrix(request: FastifyRequest, _reply: FastifyReply) {
    // The origin is checked even when its key is cached: the cache is looked up
    // case-folded, and some invalid names fold to valid ones (U+212A to "k").
    const auths = parseRequestAuth(authorizationHeaders(request));
    const origin = auths[0]!.origin;
    const firstKey = opts.cachedKey?.(origin, auths[0]!.key);
    for (const a of auths) {
      if (a.destination !== undefined && a.destination !== opts.serverName) {
        throw unauthorized(`X-Matrix destination ${JSON.stringify(a.destination)} is not this server (${opts.serverName})`);
      }
    }
    if (opts.domainWhitelist && !opts.domainWhitelist.includes(origin)) {
      throw forbidden(`Federation with ${origin} is not allowed by this server's federation_domain_whitelist`);
    }
    const reasons: string[] = [];
    // Every header's destination is this server (checked above, or absent), so one signed object serves them all.
    let signed: Buffer | undefined;
    const signedBytesOnce = (): Buffer => {
      if (signed) return signed;
      try {
        return (signed = requestSignedBytes({ method: request.method, uri: request.raw.url ?? request.url, origin, destination: opts.serverName, content: request.body ?? undefined }));
      } catch (e) {
        throw unauthorized(`X-Matrix signature check failed: cannot canonicalise: ${(e as Error).message}`);
      }
    };
    for (let i = 0; i < auths.length; i++) {
      const a = auths[i]!;
      const key = i === 0 ? firstKey : opts.cachedKey?.(origin, a.key);
      if (!key) continue;
      if (checkDetached(signedBytesOnce(), a.sig, key, a.key).ok) {
        request.xMatrixOrigin = origin;
        return;
      }
    }
    const lifetime = requestLifetime(_reply, opts.answerWithinMs ?? 30_000);
    try {
      for (const a of auths) {
        // The key store fetches a given origin at most once a minute, so further headers naming new key ids cost no fetch.
        const found = await opts.lookupKey(origin, a.key, { signal: lifetime.signal });
        if (found.key === null) {
          reasons.push(`${found.reason}${lifetime.timedOut ? ' (the key fetch took too long)' : ''}`);
          continue;
        }
        const result = checkDetached(signedBytesOnce(), a.sig, found.key, a.key);
        if (result.ok) {
          request.xMatrixOrigin = origin;
          return;
        }
        reasons.push(`${result.reason} (${origin})`);
      }
    } finally {
      lifetime.done();
    }
    throw unauthorized(`X-Matrix signature check failed: ${reasons.join('; ')}`);
  };
}
