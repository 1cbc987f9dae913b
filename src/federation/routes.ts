// Which way each name is reached: `federation_routes`, first matching rule
// wins. A rule's globs match host names, its CIDRs match IP literals and
// (on direct routes) the addresses a name resolves to. A name routed
// through a SOCKS proxy is handed to the proxy unresolved, so nothing about
// it ever reaches DNS; a name routed directly is resolved as usual.
//
// Two rules keep names from leaking:
//   - a name reached on behalf of a proxied name (its delegated server, a
//     well-known redirect) stays on that proxy even when its own route is
//     direct: a route never falls back to a direct connection;
//   - a `.onion` name that no rule matches is refused without any DNS
//     query (RFC 7686): only Tor can reach it.
import { BlockList, isIP, isIPv4 } from 'node:net';
import type { FederationRoute, RouteVia } from '../config/types.js';
import { FederationError } from './errors.js';
import { globToRegExp } from './tls-policy.js';

export type SocksVia = Extract<RouteVia, { kind: 'socks5h' }>;

export interface RouteChoice {
  /** Index into federation_routes; -1 when no rule matched (direct, the default). */
  index: number;
  /** `federation_routes[0] ("*.onion")`, or `no federation_routes rule`. */
  label: string;
  /** The pattern that matched, as written. */
  pattern?: string;
  via: RouteVia;
  trust: FederationRoute['trust'];
  pins: readonly string[];
  isolate: boolean;
  /** The route whose proxy this one keeps (the name was reached on its behalf). */
  inheritedFrom?: string;
}

export interface Router {
  /** There are rules at all (resolution then notes the route of each name). */
  readonly configured: boolean;
  /**
   * The route for a host name or IP literal before anything is looked up.
   * `within` is the route of the name this one is reached on behalf of.
   * Throws FederationError (route / onion-no-route) for a .onion name no rule covers.
   */
  forName(host: string, within?: RouteChoice): RouteChoice;
  /** The route for one address a directly routed name resolved to: CIDR rules may claim it. */
  forAddress(host: string, address: string, nameRoute: RouteChoice): RouteChoice;
}

export const DEFAULT_ROUTE: RouteChoice = Object.freeze({ index: -1, label: 'no federation_routes rule', via: Object.freeze({ kind: 'direct' as const }), trust: 'ca' as const, pins: Object.freeze([]), isolate: false });

export function isProxied(route: RouteChoice | undefined): route is RouteChoice & { via: SocksVia } {
  return route !== undefined && route.via.kind === 'socks5h';
}

/** Lower case, no trailing dot, IPv6 without brackets. */
function normalise(host: string): string {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

export function isOnionName(host: string): boolean {
  return /(^|\.)onion$/.test(normalise(host));
}

interface CompiledRule {
  rule: FederationRoute;
  index: number;
  label: string;
  globs: Array<{ pattern: string; re: RegExp }>;
  cidrs: Array<{ pattern: string; list: BlockList }>;
}

function compile(rule: FederationRoute, index: number): CompiledRule {
  return {
    rule,
    index,
    label: `federation_routes[${index}] (${rule.match.map((m) => JSON.stringify(m)).join(', ')})`,
    globs: rule.names.map((pattern) => ({ pattern, re: globToRegExp(pattern) })),
    cidrs: rule.cidrs.map((pattern) => {
      const [address = '', prefix = ''] = pattern.split('/');
      const list = new BlockList();
      list.addSubnet(address, Number(prefix), isIPv4(address) ? 'ipv4' : 'ipv6');
      return { pattern, list };
    }),
  };
}

function cidrMatch(c: CompiledRule, address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return undefined;
  return c.cidrs.find((x) => x.list.check(address, family === 4 ? 'ipv4' : 'ipv6'))?.pattern;
}

function choiceOf(c: CompiledRule, pattern: string): RouteChoice {
  return { index: c.index, label: c.label, pattern, via: c.rule.via, trust: c.rule.trust, pins: c.rule.pins, isolate: c.rule.isolate };
}

export function createRouter(rules: readonly FederationRoute[]): Router {
  const compiled = rules.map(compile);

  function ownRoute(host: string): RouteChoice | undefined {
    const h = normalise(host);
    const literal = isIP(h) !== 0;
    for (const c of compiled) {
      const pattern = literal ? cidrMatch(c, h) : c.globs.find((g) => g.re.test(h))?.pattern;
      if (pattern !== undefined) return choiceOf(c, pattern);
    }
    return undefined;
  }

  return {
    configured: compiled.length > 0,
    forName(host, within) {
      const own = ownRoute(host);
      if (isProxied(within) && (own === undefined || own.via.kind === 'direct')) {
        const base = own ?? DEFAULT_ROUTE;
        return { ...base, via: within.via, isolate: within.isolate, inheritedFrom: within.label };
      }
      if (own !== undefined) return own;
      if (isOnionName(host)) {
        throw new FederationError(
          'route',
          'onion-no-route',
          `${normalise(host)} is a Tor onion service: .onion names exist only inside Tor and are never looked up in DNS (RFC 7686), and no federation_routes rule sends it through Tor; ` +
            'add a SOCKS route such as federation_routes: [{match: "*.onion", via: "socks5h://127.0.0.1:9050"}]',
        );
      }
      return DEFAULT_ROUTE;
    },
    forAddress(host, address, nameRoute) {
      if (isProxied(nameRoute)) return nameRoute;
      const h = normalise(host);
      for (const c of compiled) {
        const pattern = c.globs.find((g) => g.re.test(h))?.pattern ?? cidrMatch(c, address);
        if (pattern !== undefined) return choiceOf(c, pattern);
      }
      return nameRoute;
    },
  };
}

function trustWords(route: RouteChoice): string {
  if (route.trust === 'pin') return `certificate pinned (${route.pins.length} pin${route.pins.length === 1 ? '' : 's'})`;
  if (route.trust === 'none') return 'certificate not verified (trust: none)';
  return 'certificate checked as usual';
}

/** One sentence for resolution steps: which rule, why, and what it means. */
export function describeRoute(route: RouteChoice, host: string): string {
  const name = normalise(host);
  if (route.inheritedFrom !== undefined) {
    const own = route.index >= 0 ? `its own rule ${route.label} says direct, but ` : '';
    return `${name} is reached on behalf of a name routed by ${route.inheritedFrom}: ${own}a route never falls back to a direct connection, so through SOCKS5 proxy ${(route.via as SocksVia).display}, which resolves the name (no local DNS, no SRV); ${trustWords(route)}`;
  }
  if (route.index < 0) return `no federation_routes rule matches ${name}: direct (the default)`;
  const matched = `${route.label} matches ${name}${route.pattern !== undefined && route.pattern !== name ? ` (pattern ${JSON.stringify(route.pattern)})` : ''}`;
  if (isProxied(route)) {
    return `${matched}: through SOCKS5 proxy ${route.via.display}, which resolves the name (no local DNS, no SRV)${route.isolate ? ', a SOCKS username of its own (isolate)' : ''}; ${trustWords(route)}`;
  }
  return `${matched}: direct; ${trustWords(route)}`;
}

/** For reports: the route in a few fields (null for the default). */
export interface RouteReport {
  rule: string;
  pattern: string | null;
  via: string;
  trust: FederationRoute['trust'];
  isolate: boolean;
  inherited_from: string | null;
}

export function routeReport(route: RouteChoice | undefined): RouteReport | null {
  if (route === undefined || (route.index < 0 && route.inheritedFrom === undefined)) return null;
  return {
    rule: route.label,
    pattern: route.pattern ?? null,
    via: route.via.kind === 'direct' ? 'direct' : route.via.display,
    trust: route.trust,
    isolate: route.isolate,
    inherited_from: route.inheritedFrom ?? null,
  };
}
