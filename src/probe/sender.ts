// Sends the probe's requests to the target: resolved once as outbound
// federation does (well-known, SRV, the config's trust policy), then each
// request sent as given, Authorization headers and body included, and every
// answer read, whatever its status. The federation client cannot do this: it
// signs for itself, sends only JSON and throws on a non-2xx answer.
import type { Config } from '../config/types.js';
import { buildFederationParts, type FederationParts } from '../federation/client.js';
import { exchangeFirstReachable } from '../federation/exchange.js';
import { createServerNameResolver, type Resolution } from '../federation/resolver.js';
import { PACKAGE_VERSION } from '../version.js';
import type { ReceivedResponse, SentRequest } from './types.js';

export interface ProbeRequest {
  method: string;
  /** Path and query, starting with "/". */
  path: string;
  authorization?: readonly string[];
  /** A JSON body. */
  body?: unknown;
  /** Bytes sent as they are (bad JSON). */
  rawBody?: Buffer;
}

export interface SendResult {
  request: SentRequest;
  response: ReceivedResponse;
  /** The parsed JSON body, when there is one. */
  json?: unknown;
}

export interface Sender {
  send(req: ProbeRequest): Promise<SendResult>;
  /** A server name resolved as outbound federation does (once per name), or why that failed. */
  resolve(serverName: string): Promise<Resolution | Error>;
  close(): void;
}

export interface SenderOptions {
  config: Config;
  target: string;
  dnsServers?: readonly string[];
  systemCas?: readonly string[];
  /** Per request; default federation_client.request_timeout. */
  timeoutMs?: number;
}

export const PROBE_USER_AGENT = `fedpeer-probe/${PACKAGE_VERSION}`;
const REQUEST_EXCERPT = 300;
const RESPONSE_EXCERPT = 500;
/** Answers are read up to this size; the probe needs only their start. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/**
 * After this many requests in a row got no answer, the rest are not sent:
 * a target that accepts connections and never answers would otherwise hold
 * the probe for the request timeout times every request of the run.
 */
export const MAX_UNANSWERED = 3;

function excerpt(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function readResponse(status: number, body: Buffer): { response: ReceivedResponse; json?: unknown } {
  const text = body.toString('utf8');
  let json: unknown;
  try {
    json = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  const response: ReceivedResponse = { status };
  if (text.length > 0) response.body = excerpt(text, RESPONSE_EXCERPT);
  if (typeof json === 'object' && json !== null && typeof (json as { errcode?: unknown }).errcode === 'string') {
    response.errcode = (json as { errcode: string }).errcode;
    const error = (json as { error?: unknown }).error;
    if (typeof error === 'string') response.error = excerpt(error, RESPONSE_EXCERPT);
  }
  return json === undefined ? { response } : { response, json };
}

export async function createSender(opts: SenderOptions): Promise<Sender> {
  const parts: FederationParts = await buildFederationParts({
    config: opts.config,
    ...(opts.dnsServers && opts.dnsServers.length > 0 ? { dnsServers: opts.dnsServers } : {}),
    ...(opts.systemCas ? { systemCas: opts.systemCas } : {}),
  });
  const resolver = createServerNameResolver({ dns: parts.dns, wellKnown: parts.wellKnown, addresses: parts.addresses, routes: parts.routes });
  const timeoutMs = opts.timeoutMs ?? opts.config.federationClient.requestTimeoutMs;
  const resolutions = new Map<string, Promise<Resolution | Error>>();
  const resolve = (name: string): Promise<Resolution | Error> => {
    let r = resolutions.get(name);
    if (!r) {
      r = resolver.resolveServerName(name).catch((e: Error) => e);
      resolutions.set(name, r);
    }
    return r;
  };

  let unanswered = 0;

  async function send(req: ProbeRequest): Promise<SendResult> {
    const body = req.rawBody ?? (req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body), 'utf8'));
    const request: SentRequest = { method: req.method, path: req.path, authorization: [...(req.authorization ?? [])] };
    if (body) {
      request.body = excerpt(body.toString('utf8'), REQUEST_EXCERPT);
      request.body_bytes = body.length;
    }
    const resolved = await resolve(opts.target);
    if (resolved instanceof Error) return { request, response: { failure: `cannot resolve ${opts.target}: ${resolved.message}` } };
    if (unanswered >= MAX_UNANSWERED) return { request, response: { failure: `not sent: the last ${MAX_UNANSWERED} requests to ${opts.target} got no answer` } };
    const headers: Record<string, string | string[]> = { 'user-agent': PROBE_USER_AGENT, accept: 'application/json' };
    if (body) headers['content-type'] = 'application/json';
    if (req.authorization && req.authorization.length > 0) headers.authorization = [...req.authorization];
    try {
      const r = await exchangeFirstReachable(
        parts.transport,
        resolved.targets,
        // One Authorization header per value: node sends an array as repeated headers.
        { method: req.method, path: req.path, headers: headers as Record<string, string>, ...(body ? { body } : {}), connectTimeoutMs: Math.min(10_000, timeoutMs), maxBytes: MAX_RESPONSE_BYTES },
        performance.now() + timeoutMs,
      );
      unanswered = 0;
      return { request, ...readResponse(r.status, r.body) };
    } catch (e) {
      unanswered++;
      return { request, response: { failure: (e as Error).message } };
    }
  }

  return { send, resolve, close: () => parts.transport.close() };
}
