// Outbound behaviour: what the target did when it called back to fetch the
// probe's keys (how it found the probe, SNI, TLS version, Host header,
// directly or through a notary), and whether it checks certificates: an
// identity of the probe served with an untrusted certificate must not get a
// signed request accepted.
import { isIP } from 'node:net';
import { parseServerName } from '../../matrix/server-name.js';
import { buildXMatrixHeader } from '../../matrix/signing.js';
import type { CheckDefinition, ProbeContext } from '../context.js';
import { SPEC_REFS } from '../context.js';
import { isKeyFetch, judgeCertificateVerification, judgeHostHeader, judgeKeyFetch, judgeResolution, judgeTls, fetchedByTarget, WELL_KNOWN_PATH, type FetchOrigin, type RequestEvent } from '../outbound-judge.js';
import type { Outcome } from '../types.js';
import { firstAcceptedEndpoint } from './auth.js';
import { baseline, exchange, sendSigned, targetSoftware } from './shared.js';

async function fetchOrigin(ctx: ProbeContext): Promise<FetchOrigin> {
  const resolution = await ctx.targetResolution();
  const software = await targetSoftware(ctx);
  return { targetAddresses: resolution instanceof Error ? [] : resolution.targets.map((t) => t.address), ...(software !== undefined ? { targetSoftware: software } : {}) };
}

/** Key fetches made by the target itself, once the signed requests have made it fetch. */
async function targetFetches(ctx: ProbeContext): Promise<RequestEvent[]> {
  await baseline(ctx);
  const origin = await fetchOrigin(ctx);
  return ctx.inbound.requests((e) => isKeyFetch(e) && fetchedByTarget(e, origin));
}

async function baselineAccepted(ctx: ProbeContext): Promise<boolean> {
  return (await baseline(ctx)).accepted.length > 0;
}

export const outboundChecks: CheckDefinition[] = [
  {
    id: 'outbound.key-fetch',
    group: 'outbound',
    title: "The target fetches the probe's keys to check its signature",
    requirement: 'must',
    spec: SPEC_REFS.retrievingKeys,
    expected:
      "To check a request signed with a key it has not seen (the probe publishes a new one each run), the target fetches the probe's keys, directly (GET /_matrix/key/v2/server) or through a notary; the report says which.",
    async run(ctx) {
      const accepted = await baselineAccepted(ctx);
      return judgeKeyFetch({ baselineAccepted: accepted, keyId: ctx.keys.key.keyId, fetches: ctx.inbound.requests(isKeyFetch), origin: await fetchOrigin(ctx) });
    },
  },
  {
    id: 'outbound.tls',
    group: 'outbound',
    title: 'The target sends the expected SNI over TLS 1.2 or later',
    requirement: 'should',
    spec: SPEC_REFS.tls,
    expected:
      "The target's key fetch asks, by SNI, for the certificate name resolution requires (the probe's host name, or its delegated name); no SNI for an IP address. The TLS version is reported (the probe's listener accepts 1.2 and up).",
    async run(ctx) {
      if (!ctx.listeners.tls) return { verdict: 'not_applicable', reason: "the probe's config has no TLS listener, so no TLS handshake is seen" };
      const own = await ctx.ownResolution();
      const name = parseServerName(ctx.origin);
      // Certificate names that are IP addresses are never sent as SNI.
      const names = name.kind !== 'dns' ? [] : own instanceof Error ? [name.host.toLowerCase()] : [...new Set(own.targets.map((t) => t.tls_name))].filter((n) => isIP(n) === 0);
      return judgeTls({ fetches: await targetFetches(ctx), expectedSni: names.length > 0 ? names : null });
    },
  },
  {
    id: 'outbound.host-header',
    group: 'outbound',
    title: 'The target sends the Host header resolution requires',
    requirement: 'must',
    spec: SPEC_REFS.resolving,
    expected: "The target's requests to the probe carry the Host header the resolution step requires: the server name (with its port, if it has one), or the delegated name.",
    async run(ctx) {
      const own = await ctx.ownResolution();
      const expectedHosts = own instanceof Error ? [ctx.origin] : [...new Set(own.targets.map((t) => t.host))];
      return judgeHostHeader({ fetches: await targetFetches(ctx), expectedHosts });
    },
  },
  {
    id: 'outbound.resolution',
    group: 'outbound',
    title: "The target resolves the probe's name in the spec's order",
    requirement: 'must',
    spec: SPEC_REFS.resolving,
    expected:
      'For a host name without port: the well-known first, then SRV _matrix-fed._tcp before the deprecated _matrix._tcp, then AAAA/A; no SRV lookups after a valid delegation; for a name with a port or an IP address, neither well-known nor SRV. Observed through the probe listening on 443 and, with --dns-listen, its own DNS server.',
    async run(ctx) {
      await baseline(ctx);
      const name = parseServerName(ctx.origin);
      return judgeResolution({
        host: name.host.toLowerCase(),
        explicitPort: name.port !== undefined,
        ipLiteral: name.kind !== 'dns',
        wellKnownObservable: ctx.listeners.port443,
        wellKnownRequests: ctx.inbound.requests((e) => e.path === WELL_KNOWN_PATH),
        dnsQuestions: ctx.dns ? ctx.dns.questions : null,
      });
    },
  },
  {
    id: 'outbound.certificate-verification',
    group: 'outbound',
    title: 'The target refuses a server whose certificate it cannot trust',
    requirement: 'must',
    spec: SPEC_REFS.tls,
    expected:
      "A request signed by a second identity of the probe (its host with another port), whose keys are only served behind a certificate from a CA made for this run, is refused with 401: the target must not complete a TLS handshake with that certificate, so it cannot fetch the keys.",
    async run(ctx): Promise<Outcome> {
      if (!ctx.untrusted) return { verdict: 'could_not_run', reason: ctx.untrustedMissing ?? 'no untrusted identity' };
      const endpoint = await firstAcceptedEndpoint(ctx);
      if (!endpoint) return { verdict: 'could_not_run', reason: 'no authenticated endpoint accepted a correctly signed request (see auth.signed-accepted)' };
      const { origin, key } = ctx.untrusted;
      const header = buildXMatrixHeader({ method: endpoint.method, uri: endpoint.uri, origin, destination: ctx.target, ...(endpoint.content !== undefined ? { content: endpoint.content } : {}) }, key);
      const r = await sendSigned(ctx, endpoint, [header]);
      const outcome = judgeCertificateVerification({ untrustedOrigin: origin, response: r.response, events: ctx.untrusted.inbound.events });
      return { ...outcome, exchanges: [exchange(`${endpoint.name} as ${origin}`, r, outcome.reason)] };
    },
  },
];
