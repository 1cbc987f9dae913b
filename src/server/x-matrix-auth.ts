// Inbound request authentication: a Fastify preHandler that any federation
// route can require. It reads every Authorization header (a request may carry
// several), checks that they name one origin and, when they name one, this
// server as destination, then verifies a signature with the origin's current
// key (verify_keys only: old_verify_keys never authenticate requests).
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { parseXMatrixHeader, requestSigningObject, verifyJsonSignature, XMatrixParseError, type VerifyKey, type XMatrixAuth } from '../matrix/signing.js';
import { isValidServerName } from '../matrix/server-name.js';
import { forbidden, unauthorized } from '../matrix/errors.js';

/** The origin's current verify key for a key id, or null when it has none (or it cannot be fetched). */
export type VerifyKeyLookup = (serverName: string, keyId: string, opts?: { signal?: AbortSignal }) => Promise<VerifyKey | null>;

export interface XMatrixAuthOptions {
  serverName: string;
  lookupKey: VerifyKeyLookup;
  /** Synapse's federation_domain_whitelist: when set, only these origins are served. */
  domainWhitelist?: readonly string[] | null;
}

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
    for (const a of auths) {
      const key = await opts.lookupKey(origin, a.key);
      if (!key) {
        reasons.push(`no current key ${a.key} for ${origin}`);
        continue;
      }
      const signed = {
        ...requestSigningObject({
          method: request.method,
          uri: request.raw.url ?? request.url,
          origin,
          destination: a.destination ?? opts.serverName,
          content: request.body ?? undefined,
        }),
        signatures: { [origin]: { [a.key]: a.sig } },
      };
      const result = verifyJsonSignature(signed, origin, a.key, key);
      if (result.ok) {
        request.xMatrixOrigin = origin;
        return;
      }
      reasons.push(result.reason);
    }
    throw unauthorized(`X-Matrix signature check failed: ${reasons.join('; ')}`);
  };
}
