// The pure half of `fedpeer check`: facts (probe.ts) in, findings and a
// verdict out. Every failed check becomes a finding with a stable code, an
// explanation and a fix; `federation_ok` holds when there is no error and a
// target answered with an accepted certificate and valid keys.
import { parseServerName } from '../matrix/server-name.js';
import { findingList, type FindingList } from './finding-list.js';
import { targetFindings } from './target-findings.js';
import type { CheckFacts, CheckReport, Finding, WellKnownReport } from './types.js';

export { EXPIRY_WARNING_DAYS, certificateCovers, certificateNames } from './target-findings.js';

/** Servers cache a well-known for at least this long whatever its headers say (Synapse's clamp). */
export const SHORT_CACHE_SECONDS = 300;

function hostOf(serverName: string): string {
  try {
    return parseServerName(serverName).host.toLowerCase();
  } catch {
    return serverName.toLowerCase();
  }
}

function wellKnownSummary(wk: WellKnownReport | null): string {
  if (wk === null) return '';
  if (wk.outcome === 'none') return `no ${wk.url} (status ${wk.responses.at(-1)?.status})`;
  return `no usable ${wk.url} (${wk.error ?? wk.check})`;
}

function resolutionFindings(f: CheckFacts, host: string, out: FindingList): void {
  const err = f.resolution.error;
  const delegated = f.resolution.delegated_server;
  if (err !== null) {
    if (err.check === 'onion-no-route') {
      out.add({
        code: 'ONION_NO_ROUTE',
        severity: 'error',
        title: `${f.server_name} is an onion service, and no route leads into Tor`,
        explanation:
          '.onion names exist only inside Tor: they are never looked up in DNS (RFC 7686), so this server did not ask DNS and cannot reach the name by itself. ' +
          'It needs a route through a Tor SOCKS port for .onion names.',
        fix:
          'Run Tor and add a SOCKS route to homeserver.yaml: federation_routes: [{match: "*.onion", via: "socks5h://127.0.0.1:9050", trust: pin, pins: ["<the server\'s certificate or public key pin>"]}] ' +
          '(trust: none instead of a pin accepts any certificate there; docs/FEDERATION.md, "Routes").',
      });
    } else if (err.step === 'blocklist') {
      out.add({
        code: 'ADDRESS_BLOCKED',
        severity: 'error',
        title: 'Every address is in ip_range_blacklist',
        explanation: `${err.message}. This server never dials those addresses (private, loopback and other special ranges are blocked by default), so it cannot federate with ${f.server_name}.`,
        fix: `On the public internet, publish public addresses for ${f.server_name}. In a private federation, add the range to ip_range_whitelist on every server that federates with it.`,
      });
    } else if (err.step === 'srv' && err.check === 'service-unavailable') {
      out.add({
        code: 'SRV_NO_SERVICE',
        severity: 'error',
        title: 'The SRV record says there is no Matrix service',
        explanation: `${err.message}. A single SRV record with target "." means the service is deliberately not offered; servers stop there.`,
        fix: 'Remove the "." SRV record, or replace it with one that points at the homeserver.',
      });
    } else if ((err.step === 'dns' || err.step === 'srv') && err.check !== 'no-address' && err.check !== 'no-target-address') {
      out.add({
        code: 'DNS_LOOKUP_FAILED',
        severity: 'error',
        title: 'A DNS lookup failed',
        explanation: `${err.message}. Servers cannot find ${f.server_name} while the lookup fails (they do not guess past a failing SRV lookup).`,
        fix: 'Check the zone\'s name servers (dig +trace); a broken DNSSEC signature is a common cause of SERVFAIL.',
      });
    } else {
      noRoute(f, host, out);
    }
    return;
  }
  for (const s of f.resolution.steps.filter((x) => x.step === 'srv-target' && x.outcome !== 'found')) {
    out.add({
      code: 'SRV_TARGET_NO_ADDRESS',
      severity: 'warning',
      title: `The SRV target ${s.lookup.replace(/ AAAA\/A$/, '')} has no address`,
      explanation: `${s.lookup}: ${s.detail}. Servers skip it and use the other targets.`,
      fix: 'Publish A/AAAA records for the SRV target, or remove its SRV record.',
    });
  }
  if (f.resolution.route === 'srv-legacy') {
    const legacy = f.srv.find((s) => s.service === '_matrix._tcp');
    const name = legacy?.name ?? `_matrix._tcp.${host}`;
    const fed = name.replace('_matrix._tcp', '_matrix-fed._tcp');
    const records = (legacy?.records ?? []).map((r) => `"${fed}. IN SRV ${r.priority} ${r.weight} ${r.port} ${r.target}."`);
    out.add({
      code: 'DEPRECATED_MATRIX_SRV',
      severity: 'warning',
      title: `Found through the deprecated ${name} SRV record`,
      explanation: `Servers found ${delegated ?? f.server_name} through ${name}. Since Matrix 1.8 servers look up _matrix-fed._tcp first; support for _matrix._tcp is deprecated and will be removed.`,
      fix: `Publish the same records as ${fed}${records.length > 0 ? ` (${records.join(', ')})` : ''}, and keep ${name} meanwhile for older servers.`,
    });
  }
}

function noRoute(f: CheckFacts, host: string, out: FindingList): void {
  const err = f.resolution.error!;
  const delegated = f.resolution.delegated_server;
  let explanation: string;
  let fix: string;
  if (err.check === 'no-target-address') {
    explanation = `${err.message}. The SRV records exist, so servers do not fall back to port 8448.`;
    fix = 'Publish A/AAAA records for the SRV targets, or correct the targets of the SRV records.';
  } else if (delegated !== null) {
    explanation = `https://${host}/.well-known/matrix/server delegates to ${delegated}, but ${err.message}.`;
    fix = `Publish an A/AAAA record (or an SRV record) for ${delegated}, or correct "m.server" in the well-known file.`;
  } else if (f.srv.length > 0) {
    const srv = f.srv.map((s) => `no ${s.name} SRV record`).join(', ');
    explanation = `Nothing says where ${f.server_name}'s homeserver is: ${wellKnownSummary(f.well_known)}, ${srv}, and ${err.message}.`;
    fix =
      `Publish one of: /.well-known/matrix/server on https://${host} with {"m.server":"<host>:<port>"}; ` +
      `an SRV record _matrix-fed._tcp.${host} pointing at the homeserver's host and port; ` +
      `or an A/AAAA record for ${host} with the homeserver listening on port 8448.`;
  } else {
    explanation = `${err.message}.`;
    fix = `Publish an A/AAAA record for ${host}.`;
  }
  out.add({ code: 'NO_ROUTE', severity: 'error', title: `No way to reach ${f.server_name}`, explanation, fix });
}

function wellKnownFindings(f: CheckFacts, host: string, out: FindingList): void {
  const wk = f.well_known;
  if (wk === null) return;
  const redirects = wk.responses.filter((r) => r.status >= 300 && r.status < 400 && r.location !== undefined);
  if (redirects.length > 0) {
    const hops = [...redirects.map((r) => r.url), wk.responses.at(-1)!.url].join(' -> ');
    out.add({
      code: 'WELL_KNOWN_REDIRECT',
      severity: 'warning',
      title: '/.well-known/matrix/server redirects',
      explanation: `The well-known file is redirected: ${hops}. Synapse follows redirects, but other servers may not, and each redirect costs a round trip.`,
      fix: `Serve the file directly at ${wk.url} with status 200.`,
    });
  }
  if (wk.outcome === 'found' && wk.header_cache_seconds !== null && wk.header_cache_seconds < SHORT_CACHE_SECONDS) {
    out.add({
      code: 'WELL_KNOWN_SHORT_CACHE',
      severity: 'warning',
      title: '/.well-known/matrix/server asks to be cached for under 5 minutes',
      explanation:
        `Its Cache-Control/Expires headers ask for ${wk.header_cache_seconds} s. Servers keep it at least 5 minutes anyway (Synapse clamps to between 5 minutes and 48 hours) ` +
        'and refetch it that often; a short lifetime is usually a web server or CDN default (no-store, max-age=0) rather than a choice.',
      fix: 'Send Cache-Control: max-age=86400 with it, or no caching headers at all (servers then keep it 24 hours).',
    });
  }
  if (wk.outcome !== 'failed') return;
  if (wk.check === 'json' || wk.check === 'm.server') {
    out.add({
      code: 'WELL_KNOWN_INVALID',
      severity: 'warning',
      title: '/.well-known/matrix/server is not valid',
      explanation: `${wk.url} answered 200, but ${wk.error}. Servers ignore it and fall back to SRV records and port 8448, and remember that for an hour.`,
      fix: `Serve a JSON object such as {"m.server":"matrix.${host}:443"}, or remove the file if you do not delegate.`,
    });
    return;
  }
  // No address, or nothing listening on 443: the usual state of a domain that does not delegate.
  if (wk.check === 'dns' || (wk.check?.startsWith('connect:') && wk.check !== 'connect:timeout')) return;
  // ADDRESS_BLOCKED says it already.
  if (wk.check?.startsWith('blocklist:') && f.resolution.error?.step === 'blocklist') return;
  const tls = wk.check?.startsWith('tls:');
  out.add({
    code: 'WELL_KNOWN_UNREACHABLE',
    severity: 'warning',
    title: '/.well-known/matrix/server could not be fetched',
    explanation: `Fetching ${wk.url} failed: ${wk.error}. Servers take that as "no delegation" for now and fall back to SRV records and port 8448; if you meant to delegate, they end up at the wrong place.`,
    fix: tls
      ? `Serve a valid certificate for ${host} on port 443: the well-known is fetched with the same certificate checks as federation.`
      : `Make https://${host}/.well-known/matrix/server answer 200 (or 404 if you do not delegate) promptly.`,
  });
}

function clientFindings(f: CheckFacts, host: string, out: FindingList): void {
  const c = f.client_well_known;
  // ONION_NO_ROUTE says it already: nothing about the name can be fetched.
  if (c === null || f.resolution.error?.check === 'onion-no-route') return;
  // Where the client API lives is the operator's to say; a made-up host would be pasted as it is.
  const example = '{"m.homeserver":{"base_url":"<the https URL your homeserver\'s client API answers at>"}}';
  if (c.outcome === 'none') {
    out.add({
      code: 'CLIENT_WELL_KNOWN_MISSING',
      severity: 'info',
      title: '/.well-known/matrix/client is not published',
      explanation: `${c.url} answered 404: clients cannot discover the homeserver from a user ID on ${host}, so users have to type its URL.`,
      fix: `Publish ${example} there, with the header Access-Control-Allow-Origin: *.`,
    });
    return;
  }
  if (c.outcome === 'failed') {
    out.add({
      code: 'CLIENT_WELL_KNOWN_UNREACHABLE',
      severity: 'info',
      title: '/.well-known/matrix/client could not be fetched',
      explanation: `Fetching ${c.url} failed: ${c.error}. Clients cannot discover the homeserver from a user ID on ${host}.`,
      fix: `Serve ${example} at ${c.url}, with the header Access-Control-Allow-Origin: *.`,
    });
    return;
  }
  if (c.status !== null && c.status >= 300 && c.status < 400) {
    out.add({
      code: 'CLIENT_WELL_KNOWN_REDIRECT',
      severity: 'warning',
      title: '/.well-known/matrix/client redirects',
      explanation: `${c.url} answered ${c.error}. Not every client follows redirects for discovery.`,
      fix: `Serve the file directly at ${c.url} with status 200.`,
    });
  } else if (c.outcome === 'invalid') {
    out.add({
      code: 'CLIENT_WELL_KNOWN_INVALID',
      severity: 'warning',
      title: '/.well-known/matrix/client is not valid',
      explanation: `${c.url}: ${c.error}. Clients ignore it.`,
      fix: `Serve ${example} there.`,
    });
  }
  if (c.status === 200 && c.cors === null) {
    out.add({
      code: 'CLIENT_WELL_KNOWN_NO_CORS',
      severity: 'warning',
      title: '/.well-known/matrix/client has no CORS header',
      explanation: `${c.url} has no Access-Control-Allow-Origin header, so web clients (Element Web and others) cannot read it.`,
      fix: 'Add the header Access-Control-Allow-Origin: * to it (nginx: add_header Access-Control-Allow-Origin "*";).',
    });
  }
  const b = c.base_url_check;
  if (b && !b.ok) {
    out.add({
      code: 'CLIENT_WELL_KNOWN_BASE_URL_UNREACHABLE',
      severity: 'warning',
      title: 'm.homeserver.base_url is not reachable',
      explanation: `The client well-known names ${c.base_url} as the homeserver, but ${b.url} gave no answer: ${b.error}.`,
      fix: 'Make base_url an https URL where the homeserver\'s client API answers, or correct it.',
    });
  }
}

export function analyse(f: CheckFacts): Finding[] {
  const out = findingList();
  const host = hostOf(f.server_name);
  resolutionFindings(f, host, out);
  wellKnownFindings(f, host, out);
  const anyConnected = f.targets.some((t) => t.tcp.ok);
  for (const t of f.targets) targetFindings({ facts: f, serverHost: host, anyConnected, out }, t);
  if (f.targets_not_probed > 0) {
    out.add({
      code: 'TARGETS_NOT_PROBED',
      severity: 'info',
      title: `${f.targets_not_probed} more targets not checked`,
      explanation: `Resolution found ${f.resolution.targets.length} targets; the first ${f.targets.length} were checked.`,
      fix: null,
    });
  }
  clientFindings(f, host, out);
  return out.sorted();
}

export function buildReport(f: CheckFacts): CheckReport {
  const findings = analyse(f);
  const errors = findings.filter((x) => x.severity === 'error');
  const warnings = findings.filter((x) => x.severity === 'warning').length;
  const working = f.targets.some((t) => t.tls?.accepted && t.keys?.ok);
  const ok = errors.length === 0 && working;
  let verdict: string;
  if (ok) {
    verdict = warnings === 0 ? `Federation with ${f.server_name} works.` : `Federation with ${f.server_name} works, with ${warnings} warning${warnings === 1 ? '' : 's'}.`;
  } else if (errors.length > 0) {
    verdict = `Federation with ${f.server_name} fails: ${errors[0]!.title}${errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length === 2 ? '' : 's'})` : ''}.`;
  } else {
    verdict = `Federation with ${f.server_name} fails: no target answered with an accepted certificate and valid keys.`;
  }
  return { ...f, federation_ok: ok, verdict, findings };
}
