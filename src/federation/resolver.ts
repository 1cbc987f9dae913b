// Server name -> ordered targets {address, port, host, tls_name}, following
// the spec's "Resolving server names" in its current order:
//
//   1. IP literal: that address, the given port or 8448; certificate for the IP.
//   2. Name with explicit port: AAAA/A of the name; certificate for the name.
//   3. /.well-known/matrix/server; when valid, its m.server is
//      3.1 an IP literal: used as in 1;
//      3.2 a name with port: AAAA/A of it, that port;
//      3.3 _matrix-fed._tcp.<delegated> SRV;
//      3.4 deprecated _matrix._tcp.<delegated> SRV, only when 3.3 found none;
//      3.5 AAAA/A of the delegated name, port 8448;
//      the Host header and certificate are the delegated name's.
//   4-6. Without a valid well-known: the same SRV, legacy SRV and 8448 steps
//      on the original name, whose certificate is then required.
//
// The Host header is the name as written (a port only when it has one), the
// certificate name never an SRV target (the spec's note: DNS is not secure,
// so the delegate proves itself with a certificate for the delegating name).
// Every step taken, found or skipped is recorded for `fedpeer resolve`.
//
// Before any name is looked up, its federation_routes rule is asked
// (routes.ts): a name sent through a SOCKS proxy is never looked up here
// (the proxy resolves it, and cannot resolve SRV, so those steps are
// skipped); a .onion name without a route fails without a DNS query.
import { isIP } from 'node:net';
import { parseServerName, type ServerName } from '../matrix/server-name.js';
import { DnsQueryError, orderSrv, type AddressResult, type DnsResolver, type SrvRecord } from './dns.js';
import { FederationError, hostPort } from './errors.js';
import type { Target } from './exchange.js';
import type { AddressPolicy } from './ip-blocklist.js';
import { describeRoute, isProxied, type RouteChoice, type Router } from './routes.js';
import type { WellKnownResolver } from './well-known.js';

export type { Target };

export type StepName =
  | 'server-name'
  | 'route'
  | 'ip-literal'
  | 'explicit-port'
  | 'well-known'
  | 'delegated-ip-literal'
  | 'delegated-explicit-port'
  | 'srv'
  | 'srv-legacy'
  | 'srv-target'
  | 'address'
  | 'blocklist';

export interface ResolutionStep {
  step: StepName;
  /** What was looked up: a server name, URL, SRV name or host. */
  lookup: string;
  outcome: 'found' | 'none' | 'failed' | 'skipped';
  /** What was found, or why the step was skipped or failed. */
  detail: string;
  /** True when the answer came from a cache. */
  cached?: boolean;
}

export interface Resolution {
  serverName: string;
  /** The well-known's m.server, when delegation was used. */
  delegatedTo?: string;
  targets: Target[];
  steps: ResolutionStep[];
}

export interface ServerNameResolver {
  resolveServerName(serverName: string): Promise<Resolution>;
}

export interface ResolverOptions {
  dns: DnsResolver;
  wellKnown: WellKnownResolver;
  addresses: AddressPolicy;
  /** federation_routes, asked before every lookup. */
  routes: Router;
  /** [0, 1), for SRV weights. */
  random?: () => number;
}

/** SRV records followed per lookup; more would only add queries, never reachability. */
const MAX_SRV_RECORDS = 20;
/**
 * Addresses one resolution yields (in order). A name with thousands of A
 * records must not make one request dial thousands of connections; real
 * deployments publish a few.
 */
export const MAX_TARGETS = 16;
const DEFAULT_PORT = 8448;

/** Only a rule that matched (or a kept proxy) is carried on a target; the default route is no route. */
function withRoute(route: RouteChoice): { route?: RouteChoice } {
  return route.index >= 0 || route.inheritedFrom !== undefined ? { route } : {};
}

interface Naming {
  /** Host header. */
  host: string;
  /** Certificate name, lower-case; IPv6 without brackets. */
  tlsName: string;
}

export function createServerNameResolver(opts: ResolverOptions): ServerNameResolver {
  const random = opts.random ?? Math.random;

  async function resolveServerName(input: string): Promise<Resolution> {
    const steps: ResolutionStep[] = [];
    const fail = (step: FederationError['step'], check: string, message: string): never => {
      throw new FederationError(step, check, message, { serverName: input, steps });
    };
    let name: ServerName;
    try {
      name = parseServerName(input);
    } catch (e) {
      steps.push({ step: 'server-name', lookup: input, outcome: 'failed', detail: (e as Error).message });
      return fail('server-name', 'grammar', (e as Error).message);
    }

    /** The route of `host`, recorded as a step when there are rules; a refused name fails resolution. */
    const routeFor = (host: string, within?: RouteChoice, always = true): RouteChoice => {
      let route: RouteChoice;
      try {
        route = opts.routes.forName(host, within);
      } catch (e) {
        const err = e as FederationError;
        steps.push({ step: 'route', lookup: host, outcome: 'failed', detail: err.message.replace(/^route: [^:]+: /, '') });
        throw Object.assign(err, { serverName: input, steps });
      }
      if ((always && opts.routes.configured) || route.index >= 0 || route.inheritedFrom !== undefined) {
        steps.push({ step: 'route', lookup: host, outcome: 'found', detail: describeRoute(route, host) });
      }
      return route;
    };

    const addressesOf = async (host: string, step: StepName, port: number, naming: Naming, route: RouteChoice): Promise<Target[]> => {
      if (isProxied(route)) {
        steps.push({ step, lookup: host, outcome: 'found', detail: `left to SOCKS proxy ${route.via.display} to resolve, port ${port}` });
        return [{ address: host, port, host: naming.host, tls_name: naming.tlsName, route }];
      }
      let found: AddressResult;
      try {
        found = await opts.dns.addresses(host);
      } catch (e) {
        const code = e instanceof DnsQueryError ? e.code : 'error';
        steps.push({ step, lookup: `${host} AAAA/A`, outcome: 'failed', detail: (e as Error).message });
        return fail('dns', code, `AAAA/A lookup of ${host} failed: ${(e as Error).message}`);
      }
      if (found.addresses.length === 0) {
        steps.push({ step, lookup: `${host} AAAA/A`, outcome: 'none', detail: `no AAAA or A records (${found.via})`, cached: found.cached });
        return fail('dns', 'no-address', `${host} has no AAAA or A records`);
      }
      const list = found.addresses.map((a) => a.address).join(', ');
      const partial = found.partialFailure ? `; ${found.partialFailure}` : '';
      steps.push({ step, lookup: `${host} AAAA/A`, outcome: 'found', detail: `${list} port ${port} (${found.via})${partial}`, cached: found.cached });
      return found.addresses.map((a) => ({ address: a.address, port, host: naming.host, tls_name: naming.tlsName, ...addressRoute(host, a.address, route) }));
    };

    /** A CIDR rule may claim one address of a directly routed name. */
    const addressRoute = (host: string, address: string, route: RouteChoice): { route?: RouteChoice } => {
      const own = opts.routes.forAddress(host, address, route);
      if (own !== route && own.index >= 0) steps.push({ step: 'route', lookup: address, outcome: 'found', detail: describeRoute(own, address) });
      return withRoute(own);
    };

    /** 3.3-3.5 and 4-6: SRV, legacy SRV, then port 8448, for `host`. */
    const bySrv = async (host: string, naming: Naming, route: RouteChoice): Promise<Target[]> => {
      if (isProxied(route)) {
        steps.push({
          step: 'srv',
          lookup: `_matrix-fed._tcp.${host}`,
          outcome: 'skipped',
          detail: `not looked up: ${host} goes through a SOCKS proxy, which resolves names but cannot resolve SRV records; port ${DEFAULT_PORT}`,
        });
        return addressesOf(host, 'address', DEFAULT_PORT, naming, route);
      }
      for (const [step, service] of [['srv', '_matrix-fed._tcp'], ['srv-legacy', '_matrix._tcp']] as const) {
        const lookup = `${service}.${host}`;
        let records: SrvRecord[];
        try {
          const r = await opts.dns.srv(lookup);
          records = r.records;
          if (records.length === 0) {
            steps.push({ step, lookup, outcome: 'none', detail: r.none === 'NXDOMAIN' ? 'no such name (NXDOMAIN)' : 'no SRV records', cached: r.cached });
            continue;
          }
          const shown = records.map((s) => `${s.priority} ${s.weight} ${s.port} ${s.target}`).join('; ');
          steps.push({ step, lookup, outcome: 'found', detail: `${shown}${r.stale ? ` (stale: lookup failed: ${r.stale})` : ''}`, cached: r.cached });
        } catch (e) {
          // A server that does not implement SRV queries has none to give: Synapse goes on, and so does fedpeer.
          if (e instanceof DnsQueryError && e.code === 'ENOTIMP') {
            steps.push({ step, lookup, outcome: 'none', detail: `no SRV records (the DNS server does not implement SRV queries: ${e.message})` });
            continue;
          }
          // Like Synapse, a failing SRV lookup (SERVFAIL, timeout) fails resolution rather than guessing.
          steps.push({ step, lookup, outcome: 'failed', detail: (e as Error).message });
          return fail('srv', e instanceof DnsQueryError ? e.code : 'error', `SRV lookup of ${lookup} failed: ${(e as Error).message}`);
        }
        // A single "." target says the service is deliberately not offered (RFC 2782).
        if (records.length === 1 && records[0]!.target === '.') return fail('srv', 'service-unavailable', `${lookup} has a "." target: no Matrix federation at ${host}`);
        if (step === 'srv-legacy') steps[steps.length - 1]!.detail += ' (deprecated _matrix._tcp)';
        return fromSrv(records.filter((r) => r.target !== '.'), naming, lookup, route);
      }
      return addressesOf(host, 'address', DEFAULT_PORT, naming, route);
    };

    /** Targets of SRV records in RFC 2782 order; each target's addresses in order. */
    const fromSrv = async (records: SrvRecord[], naming: Naming, lookup: string, route: RouteChoice): Promise<Target[]> => {
      const ordered = orderSrv(records.slice(0, MAX_SRV_RECORDS), random);
      // Each SRV target is a name like any other: its own route decides whether it may be looked up.
      const routesOf = ordered.map((r): RouteChoice | Error => {
        try {
          return opts.routes.forName(r.target, route);
        } catch (e) {
          return e as Error;
        }
      });
      const lookups = await Promise.allSettled(
        ordered.map((r, i) => {
          const rr = routesOf[i]!;
          return rr instanceof Error ? Promise.reject(rr) : isProxied(rr) ? Promise.resolve(undefined) : opts.dns.addresses(r.target);
        }),
      );
      const targets: Target[] = [];
      ordered.forEach((r, i) => {
        const settled = lookups[i]!;
        const lookupName = `${r.target} AAAA/A`;
        const targetRoute = routesOf[i]!;
        if (!(targetRoute instanceof Error) && isProxied(targetRoute)) {
          steps.push({ step: 'srv-target', lookup: r.target, outcome: 'found', detail: `${describeRoute(targetRoute, r.target)}; port ${r.port}; certificate for ${naming.tlsName}` });
          targets.push({ address: r.target, port: r.port, host: naming.host, tls_name: naming.tlsName, route: targetRoute });
          return;
        }
        if (settled.status === 'rejected') {
          steps.push({ step: 'srv-target', lookup: lookupName, outcome: 'failed', detail: `${(settled.reason as Error).message}; target skipped` });
          return;
        }
        const found = settled.value!;
        if (found.addresses.length === 0) {
          steps.push({ step: 'srv-target', lookup: lookupName, outcome: 'none', detail: 'no AAAA or A records; target skipped', cached: found.cached });
          return;
        }
        steps.push({
          step: 'srv-target',
          lookup: lookupName,
          outcome: 'found',
          detail: `${found.addresses.map((a) => a.address).join(', ')} port ${r.port} (priority ${r.priority}, weight ${r.weight}); certificate for ${naming.tlsName}, not ${r.target}`,
          cached: found.cached,
        });
        for (const a of found.addresses) targets.push({ address: a.address, port: r.port, host: naming.host, tls_name: naming.tlsName, ...addressRoute(r.target, a.address, targetRoute as RouteChoice) });
      });
      // No fallback to the legacy record or 8448: the domain published SRV records.
      if (targets.length === 0) return fail('srv', 'no-target-address', `no target of ${lookup} has an address`);
      return targets;
    };

    let targets: Target[];
    let delegatedTo: string | undefined;
    const own: Naming = { host: input, tlsName: name.host.toLowerCase() };
    const route = routeFor(name.host);
    if (name.kind !== 'dns') {
      const port = name.port ?? DEFAULT_PORT;
      steps.push({ step: 'ip-literal', lookup: input, outcome: 'found', detail: `IP literal: ${hostPort(name.host, port)}, certificate for the IP address, no SNI; no well-known or SRV` });
      targets = [{ address: name.host, port, host: input, tls_name: own.tlsName, ...withRoute(route) }];
    } else if (name.port !== undefined) {
      steps.push({ step: 'explicit-port', lookup: input, outcome: 'found', detail: `explicit port ${name.port}: no well-known or SRV; certificate for ${own.tlsName}` });
      targets = await addressesOf(name.host, 'address', name.port, own, route);
    } else {
      const url = `https://${name.host}/.well-known/matrix/server`;
      const wk = await opts.wellKnown.get(name.host);
      if (wk.server === null) {
        steps.push({ step: 'well-known', lookup: url, outcome: wk.check === 'status' ? 'none' : 'failed', detail: wk.detail, cached: wk.cached });
        targets = await bySrv(name.host, own, route);
      } else {
        delegatedTo = wk.server;
        steps.push({ step: 'well-known', lookup: url, outcome: 'found', detail: wk.detail, cached: wk.cached });
        const d = parseServerName(wk.server);
        const delegated: Naming = { host: wk.server, tlsName: d.host.toLowerCase() };
        const dRoute = routeFor(d.host, route);
        if (d.kind !== 'dns') {
          const port = d.port ?? DEFAULT_PORT;
          steps.push({ step: 'delegated-ip-literal', lookup: wk.server, outcome: 'found', detail: `delegated to an IP literal: ${hostPort(d.host, port)}, certificate for the IP address` });
          targets = [{ address: d.host, port, host: wk.server, tls_name: delegated.tlsName, ...withRoute(dRoute) }];
        } else if (d.port !== undefined) {
          steps.push({ step: 'delegated-explicit-port', lookup: wk.server, outcome: 'found', detail: `delegated with explicit port ${d.port}: no SRV; certificate for ${delegated.tlsName}` });
          targets = await addressesOf(d.host, 'address', d.port, delegated, dRoute);
        } else {
          targets = await bySrv(d.host, delegated, dRoute);
        }
      }
    }

    // The blocklist, on the addresses themselves (the dialler checks again at connect time).
    const allowed = targets.filter((t) => {
      // A name a proxy resolves has no address here to check (docs/FEDERATION.md, "Routes").
      if (isProxied(t.route) && isIP(t.address) === 0) return true;
      const verdict = opts.addresses.check(t.address);
      if (verdict.blocked) steps.push({ step: 'blocklist', lookup: t.address, outcome: 'skipped', detail: `${t.address} is in ip_range_blacklist ${verdict.rule}: not dialled` });
      return !verdict.blocked;
    });
    if (allowed.length === 0) fail('blocklist', 'ip_range_blacklist', `every address of ${input} is in ip_range_blacklist (${targets.slice(0, MAX_TARGETS).map((t) => t.address).join(', ')})`);
    if (allowed.length > MAX_TARGETS) {
      steps.push({ step: 'address', lookup: input, outcome: 'skipped', detail: `${allowed.length} addresses found; only the first ${MAX_TARGETS} are tried` });
    }
    const resolution: Resolution = { serverName: input, targets: allowed.slice(0, MAX_TARGETS), steps };
    if (delegatedTo !== undefined) resolution.delegatedTo = delegatedTo;
    return resolution;
  }

  return { resolveServerName };
}

/** IPv6 addresses in brackets, for display. */
export function formatTarget(t: Pick<Target, 'address' | 'port'>): string {
  return `${isIP(t.address) === 6 ? `[${t.address}]` : t.address}:${t.port}`;
}
