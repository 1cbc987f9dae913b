// Inbound request authentication: a Fastify preHandler that any federation
// route can require. It reads every Authorization header (a request may carry
// several), checks that they name one origin and, when they name one, this
// server as destination, then verifies a signature with the origin's current
// key (verify_keys only: old_verify_keys never authenticate requests).
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { parseXMatrixHeader, requestSigningObject, signedBytes, checkDetached, XMatrixParseError, type VerifyKey, type XMatrixAuth } from '../matrix/signing.js';
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
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'authorization') out.push(raw[i + 1]!);
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
    const auths = parseRequestAuth(authorizationHeaders(request));
    const origin = auths[0]!.origin;
    for (const a of auths) {
      if (a.destination !== undefined && a.destination !== opts.serverName) {
        throw unauthorized(`X-Matrix destination ${JSON.stringify(a.destination)} is not this server (${opts.serverName})`);
      }
    }
    if (opts.domainWhitelist && !opts.domainWhitelist.includes(origin)) {
      throw forbidden(`Federation with ${origin} is not allowed by this server's federation_domain_whitelist`);
    }
    const reasons: string[] = [];
    // The signed object differs between headers only by destination (absent means this server), so usually one canonicalisation serves all.
    const bytesFor = new Map<string, Buffer>();
    const signedFor = (destination: string): Buffer | string => {
      let bytes = bytesFor.get(destination);
      if (!bytes) {
        try {
          bytes = signedBytes(requestSigningObject({ method: request.method, uri: request.raw.url ?? request.url, origin, destination, content: request.body ?? undefined }));
        } catch (e) {
          return `cannot canonicalise: ${(e as Error).message}`;
        }
        bytesFor.set(destination, bytes);
      }
      return bytes;
    };
    for (const a of auths) {
      const key = opts.cachedKey?.(origin, a.key);
      if (!key) continue;
      const bytes = signedFor(a.destination ?? opts.serverName);
      if (typeof bytes === 'string') throw unauthorized(`X-Matrix signature check failed: ${bytes}`);
      if (checkDetached(bytes, a.sig, key, a.key).ok) {
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
        const key = found.key;
        const bytes = signedFor(a.destination ?? opts.serverName);
        if (typeof bytes === 'string') throw unauthorized(`X-Matrix signature check failed: ${bytes}`);
        const result = checkDetached(bytes, a.sig, key, a.key);
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
