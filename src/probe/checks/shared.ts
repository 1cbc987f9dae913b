// Steps several checks need, each done once per run: the key document, the
// version, and the correctly signed request on each authenticated endpoint.
import type { ProbeContext } from '../context.js';
import { judgeAcceptance, type Acceptance } from '../judge.js';
import type { SendResult } from '../sender.js';
import type { Exchange } from '../types.js';
import { signedHeader, type SignedRequest } from '../auth-headers.js';

export function exchange(label: string, r: SendResult, finding: string): Exchange {
  return { label, request: r.request, response: r.response, finding };
}

export const keyDocument = (ctx: ProbeContext): Promise<SendResult> =>
  ctx.shared('key-document', () => ctx.send({ method: 'GET', path: '/_matrix/key/v2/server' }));

export const version = (ctx: ProbeContext): Promise<SendResult> =>
  ctx.shared('version', () => ctx.send({ method: 'GET', path: '/_matrix/federation/v1/version' }));

/** server.name from /version, when the target gave one. */
export async function targetSoftware(ctx: ProbeContext): Promise<string | undefined> {
  const json = (await version(ctx)).json as { server?: { name?: unknown } } | undefined;
  return typeof json?.server?.name === 'string' ? json.server.name : undefined;
}

export interface Endpoint extends SignedRequest {
  /** Short name in the report: "query/profile". */
  name: string;
}

const enc = encodeURIComponent;

/**
 * Authenticated endpoints every homeserver serves, asked about a user and
 * an alias that do not exist, so that an accepted request changes nothing.
 */
export function authenticatedEndpoints(target: string): Endpoint[] {
  const user = `@probe-nobody:${target}`;
  return [
    { name: 'query/profile', method: 'GET', uri: `/_matrix/federation/v1/query/profile?user_id=${enc(user)}&field=displayname` },
    { name: 'query/directory', method: 'GET', uri: `/_matrix/federation/v1/query/directory?room_alias=${enc(`#probe-nothing:${target}`)}` },
    { name: 'user/devices', method: 'GET', uri: `/_matrix/federation/v1/user/devices/${enc(user)}` },
    { name: 'user/keys/query', method: 'POST', uri: '/_matrix/federation/v1/user/keys/query', content: { device_keys: { [user]: [] } } },
  ];
}

export interface EndpointBaseline {
  endpoint: Endpoint;
  acceptance: Acceptance;
  exchange: Exchange;
}

export interface Baseline {
  endpoints: EndpointBaseline[];
  /** The endpoints that accepted a correctly signed request: the attacks are judged there. */
  accepted: Endpoint[];
}

export function sendSigned(ctx: ProbeContext, endpoint: Endpoint, authorization: readonly string[]): Promise<SendResult> {
  return ctx.send({ method: endpoint.method, path: endpoint.uri, authorization, ...(endpoint.content !== undefined ? { body: endpoint.content } : {}) });
}

export const baseline = (ctx: ProbeContext): Promise<Baseline> =>
  ctx.shared('baseline', async () => {
    const endpoints: EndpointBaseline[] = [];
    for (const endpoint of authenticatedEndpoints(ctx.target)) {
      const r = await sendSigned(ctx, endpoint, [signedHeader(endpoint, ctx.keys)]);
      const { acceptance, finding } = judgeAcceptance(r.response);
      endpoints.push({ endpoint, acceptance, exchange: exchange(endpoint.name, r, finding) });
    }
    return { endpoints, accepted: endpoints.filter((e) => e.acceptance === 'accepted').map((e) => e.endpoint) };
  });
