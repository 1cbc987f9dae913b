// Judging how the target reached out to the probe, from what the probe's
// listeners and DNS server recorded. Pure: the events come in, verdicts go out.
import type { InboundEvent } from './observer.js';
import type { DnsQuestion } from './dns-server.js';
import type { Outcome, ReceivedResponse } from './types.js';
import { describe } from './judge.js';

export type RequestEvent = Extract<InboundEvent, { kind: 'request' }>;

export const KEY_PATH = '/_matrix/key/v2/server';
export const WELL_KNOWN_PATH = '/.well-known/matrix/server';

export function isKeyFetch(e: RequestEvent): boolean {
  return e.method === 'GET' && (e.path === KEY_PATH || e.path.startsWith(`${KEY_PATH}/`) || e.path.startsWith(`${KEY_PATH}?`));
}

/** Who made a key fetch: the target itself, or another server (a notary) on its behalf. */
export interface FetchOrigin {
  /** The target's addresses, as the probe resolved them. */
  targetAddresses: readonly string[];
  /** server.name from the target's /version, when known. */
  targetSoftware?: string;
}

export function fetchedByTarget(e: RequestEvent, o: FetchOrigin): boolean {
  const remote = e.remote.replace(/^::ffff:/, '');
  if (o.targetAddresses.includes(remote)) return true;
  return o.targetSoftware !== undefined && e.user_agent !== null && e.user_agent.toLowerCase().startsWith(`${o.targetSoftware.toLowerCase()}/`);
}

function fetchLine(e: RequestEvent) {
  return { path: e.path, remote: e.remote, user_agent: e.user_agent, host: e.host, sni: e.sni, tls_version: e.tls_version, status: e.status };
}

export function judgeKeyFetch(opts: { baselineAccepted: boolean; keyId: string; fetches: readonly RequestEvent[]; origin: FetchOrigin }): Outcome {
  const fetches = opts.fetches.map((e) => ({ ...fetchLine(e), by: fetchedByTarget(e, opts.origin) ? 'target' : 'another server' }));
  const observed = { key_id: opts.keyId, fetches };
  if (!opts.baselineAccepted) {
    return { verdict: 'could_not_run', reason: 'no correctly signed request was accepted (see auth.signed-accepted), so nothing proves the key was needed', observed };
  }
  if (fetches.length === 0) {
    return {
      verdict: 'fail',
      reason: `the target accepted a request signed with ${opts.keyId}, published for this run only, yet no key fetch reached the probe: it did not check the signature`,
      observed,
    };
  }
  const direct = fetches.filter((f) => f.by === 'target').length;
  const route = direct > 0 ? 'directly' : 'through another server (a notary), which fetched from the probe';
  return { verdict: 'pass', reason: `fetched the probe's keys ${route} (${fetches.length} fetch(es), paths ${[...new Set(fetches.map((f) => f.path))].join(', ')})`, observed };
}

/**
 * SNI and TLS version of the target's own key fetches. `expectedSni` is the
 * certificate name the target must ask for; null when the probe's name is an
 * IP address, for which no SNI is sent.
 */
export function judgeTls(opts: { fetches: readonly RequestEvent[]; expectedSni: readonly string[] | null }): Outcome {
  const tlsFetches = opts.fetches.filter((e) => e.tls_version !== undefined);
  const observed = { expected_sni: opts.expectedSni, connections: tlsFetches.map(fetchLine) };
  if (opts.fetches.length === 0) return { verdict: 'could_not_run', reason: 'no key fetch by the target itself was seen (see outbound.key-fetch)', observed };
  if (tlsFetches.length === 0) return { verdict: 'not_applicable', reason: "the target reached the probe on a listener without TLS (a proxy terminates it); give the probe's config a TLS listener", observed };
  const wrong: string[] = [];
  for (const e of tlsFetches) {
    if (opts.expectedSni === null) {
      if (e.sni) wrong.push(`sent SNI ${JSON.stringify(e.sni)} for an IP address`);
    } else if (!e.sni) {
      wrong.push('sent no SNI');
    } else if (!opts.expectedSni.includes(e.sni.toLowerCase())) {
      wrong.push(`sent SNI ${JSON.stringify(e.sni)}, not ${opts.expectedSni.join(' or ')}`);
    }
  }
  const versions = [...new Set(tlsFetches.map((e) => e.tls_version))].join(', ');
  if (wrong.length > 0) return { verdict: 'fail', reason: `${[...new Set(wrong)].join('; ')} (TLS ${versions})`, observed };
  const sni = opts.expectedSni === null ? 'no SNI, as for an IP address' : `SNI ${[...new Set(tlsFetches.map((e) => e.sni))].join(', ')}`;
  return { verdict: 'pass', reason: `${sni}; TLS ${versions}`, observed };
}

export function judgeHostHeader(opts: { fetches: readonly RequestEvent[]; expectedHosts: readonly string[] }): Outcome {
  const observed = { expected: opts.expectedHosts, seen: [...new Set(opts.fetches.map((e) => e.host))] };
  if (opts.fetches.length === 0) return { verdict: 'could_not_run', reason: 'no key fetch by the target itself was seen (see outbound.key-fetch)', observed };
  const expected = opts.expectedHosts.map((h) => h.toLowerCase());
  const wrong = opts.fetches.filter((e) => e.host === null || !expected.includes(e.host.toLowerCase()));
  if (wrong.length > 0) {
    return { verdict: 'fail', reason: `Host ${[...new Set(wrong.map((e) => JSON.stringify(e.host)))].join(', ')} instead of ${opts.expectedHosts.join(' or ')}`, observed };
  }
  return { verdict: 'pass', reason: `Host ${[...new Set(opts.fetches.map((e) => e.host))].join(', ')}`, observed };
}

export interface ResolutionFacts {
  /** The probe's server name: its host (lower case) and whether it carries a port or is an IP literal. */
  host: string;
  explicitPort: boolean;
  ipLiteral: boolean;
  /** The probe has a TLS listener on 443, so a well-known request would reach it. */
  wellKnownObservable: boolean;
  wellKnownRequests: readonly RequestEvent[];
  /** Null when the probe runs no DNS server. */
  dnsQuestions: readonly DnsQuestion[] | null;
}

type Step = { at: number; what: string; kind: 'well-known' | 'srv-fed' | 'srv-legacy' | 'address'; status?: number };

export function judgeResolution(f: ResolutionFacts): Outcome {
  const fed = `_matrix-fed._tcp.${f.host}`;
  const legacy = `_matrix._tcp.${f.host}`;
  const steps: Step[] = f.wellKnownRequests.map((e) => ({ at: e.at, what: `GET https://${f.host}${WELL_KNOWN_PATH} (${e.status ?? 'no answer'})`, kind: 'well-known' as const, ...(e.status !== undefined ? { status: e.status } : {}) }));
  for (const q of f.dnsQuestions ?? []) {
    if (q.name === fed && q.type === 'SRV') steps.push({ at: q.at, what: `SRV ${fed}`, kind: 'srv-fed' });
    else if (q.name === legacy && q.type === 'SRV') steps.push({ at: q.at, what: `SRV ${legacy}`, kind: 'srv-legacy' });
    else if (q.name === f.host && (q.type === 'A' || q.type === 'AAAA')) steps.push({ at: q.at, what: `${q.type} ${f.host}`, kind: 'address' });
  }
  steps.sort((a, b) => a.at - b.at);
  const observed = {
    dns_server: f.dnsQuestions !== null,
    well_known_observable: f.wellKnownObservable,
    sequence: steps.map((s) => s.what),
  };
  if (steps.length === 0) {
    const how = [f.dnsQuestions === null ? 'run the probe with --dns-listen and point the target at it' : '', f.wellKnownObservable || f.explicitPort || f.ipLiteral ? '' : 'give the probe a TLS listener on 443'].filter(Boolean);
    return {
      verdict: 'could_not_run',
      reason: `no lookup of ${f.host} was seen: the target may have it cached from an earlier run${how.length > 0 ? `, or there was nothing to see it with (${how.join('; ')})` : ''}`,
      observed,
    };
  }
  const first = (kind: Step['kind']) => steps.findIndex((s) => s.kind === kind);
  const srvIndex = steps.findIndex((s) => s.kind === 'srv-fed' || s.kind === 'srv-legacy');
  const sequence = steps.map((s) => s.what).join(', then ');
  const fail = (reason: string): Outcome => ({ verdict: 'fail', reason: `${reason} (seen: ${sequence})`, observed });
  if (f.explicitPort || f.ipLiteral) {
    const why = f.ipLiteral ? 'an IP address' : 'a name with an explicit port';
    if (first('well-known') >= 0) return fail(`asked for the well-known of ${why}, which is used as it is`);
    if (srvIndex >= 0) return fail(`looked up SRV records for ${why}, which is used as it is`);
    return { verdict: 'pass', reason: `used ${why} directly: ${sequence}`, observed };
  }
  const fedAt = first('srv-fed');
  const legacyAt = first('srv-legacy');
  if (legacyAt >= 0 && (fedAt < 0 || legacyAt < fedAt)) return fail(`asked ${legacy} before ${fed}`);
  const wellKnownAt = first('well-known');
  if (f.wellKnownObservable && srvIndex >= 0 && (wellKnownAt < 0 || srvIndex < wellKnownAt)) return fail(`looked up SRV records before asking for the well-known`);
  const delegated = steps.findIndex((s) => s.kind === 'well-known' && s.status === 200);
  if (delegated >= 0 && steps.slice(delegated).some((s) => s.kind === 'srv-fed' || s.kind === 'srv-legacy')) {
    return fail(`looked up SRV records of ${f.host} after its well-known delegated it`);
  }
  return { verdict: 'pass', reason: sequence, observed };
}

export function judgeCertificateVerification(opts: {
  untrustedOrigin: string;
  response: ReceivedResponse;
  events: readonly InboundEvent[];
}): Outcome {
  const connections = opts.events.filter((e) => e.kind === 'connection').length;
  const refusals = opts.events.filter((e): e is Extract<InboundEvent, { kind: 'tls_refused' }> => e.kind === 'tls_refused');
  const requests = opts.events.filter((e): e is RequestEvent => e.kind === 'request');
  const observed = { origin: opts.untrustedOrigin, connections, handshakes_refused: refusals.map((r) => r.error), requests: requests.map(fetchLine) };
  const answer = describe(opts.response);
  if (requests.length > 0) {
    return { verdict: 'fail', reason: `completed a TLS handshake with ${opts.untrustedOrigin}'s untrusted certificate and sent ${requests.map((r) => `${r.method} ${r.path}`).join(', ')} (answer to the signed request: ${answer})`, observed };
  }
  if ('status' in opts.response && opts.response.status !== 401) {
    return { verdict: 'fail', reason: `answered ${answer} to a request from ${opts.untrustedOrigin}, whose keys are only served behind an untrusted certificate, instead of 401`, observed };
  }
  if ('failure' in opts.response) return { verdict: 'could_not_run', reason: answer, observed };
  if (connections === 0) {
    return { verdict: 'could_not_run', reason: `refused (${answer}) but never connected to ${opts.untrustedOrigin}: it did not try to fetch its keys there (is that port reachable from the target?)`, observed };
  }
  const how = refusals.length > 0 ? `aborted the handshake (${refusals[0]!.error})` : 'closed the connection before any request';
  return { verdict: 'pass', reason: `connected to ${opts.untrustedOrigin}, ${how}, and refused the request (${answer})`, observed };
}
