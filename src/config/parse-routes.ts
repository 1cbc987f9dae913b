// `federation_routes`: an ordered list of rules, each matching names by glob
// or addresses by CIDR and saying how to reach them (directly or through a
// SOCKS5 proxy that resolves names itself) and whom to trust there.
//
//   federation_routes:
//     - match: "*.onion"
//       via: socks5h://127.0.0.1:9050
//       trust: pin
//       pins: ["sha256/…"]
//       isolate: true
//
// Only syntax is checked here; src/federation/routes.ts applies the rules.
import { isIP } from 'node:net';
import { ConfigError, describeValue } from './errors.js';
import { formatCidr, parseCidr } from './net.js';
import { type RawMap, bool, field, indexOf, keyOf, list, map, onlyKeys, oneOf, opt, str } from './read.js';
import type { FederationRoute, RouteVia } from './types.js';

const RULE_KEYS = ['match', 'via', 'trust', 'pins', 'isolate'] as const;

/** Host-name characters plus the glob's `*` and `?`; certificates and SNI carry the ASCII (punycode) form. */
const GLOB = /^[A-Za-z0-9*?._-]+$/;
const SPKI_PIN = /^sha256\/[A-Za-z0-9+/]{43}=$/;
const HEX_PIN = /^[0-9a-fA-F]{64}$/;

export function parseRoutes(value: unknown, key: string): FederationRoute[] {
  return list(value, key).map((v, i) => parseRule(map(v, indexOf(key, i)), indexOf(key, i)));
}

function parseRule(raw: RawMap, key: string): FederationRoute {
  onlyKeys(raw, key, RULE_KEYS);
  const matchValue = field(raw, 'match');
  if (matchValue === undefined) throw new ConfigError(keyOf(key, 'match'), 'required: a glob such as "*.onion", a CIDR such as "fc00::/8", or a list of them');
  const match = typeof matchValue === 'string' ? [str(matchValue, keyOf(key, 'match'))] : list(matchValue, keyOf(key, 'match')).map((m, i) => str(m, indexOf(keyOf(key, 'match'), i)));
  if (match.length === 0) throw new ConfigError(keyOf(key, 'match'), 'lists no pattern; give a glob such as "*.onion" or a CIDR such as "fc00::/8"');
  const names: string[] = [];
  const cidrs: string[] = [];
  match.forEach((m, i) => {
    const k = typeof matchValue === 'string' ? keyOf(key, 'match') : indexOf(keyOf(key, 'match'), i);
    if (m.includes('/') || isIP(m) !== 0) {
      const c = parseCidr(m);
      if (!c) throw new ConfigError(k, `expected a CIDR range such as "10.0.0.0/8" or "fc00::/8", got ${describeValue(m)}`);
      cidrs.push(formatCidr(c));
    } else if (GLOB.test(m)) {
      names.push(m);
    } else {
      throw new ConfigError(k, `expected an ASCII glob over host names such as "*.onion" (letters, digits, ".", "-", "*", "?"), got ${describeValue(m)}`);
    }
  });

  const via = opt(raw, key, 'via', viaOf, { kind: 'direct' } as RouteVia);
  const trust = opt(raw, key, 'trust', (v, k) => oneOf(v, k, ['ca', 'none', 'pin'] as const), 'ca');
  const pinsValue = field(raw, 'pins');
  if (trust === 'pin' && pinsValue === undefined) {
    throw new ConfigError(keyOf(key, 'pins'), 'required with trust: pin: the SHA-256 fingerprint of the certificate ("AB:CD:…", openssl x509 -noout -fingerprint -sha256) or of its public key ("sha256/<base64>")');
  }
  if (trust !== 'pin' && pinsValue !== undefined) throw new ConfigError(keyOf(key, 'pins'), `only used with trust: pin (this rule has trust: ${trust})`);
  const pins = pinsValue === undefined ? [] : pinList(pinsValue, keyOf(key, 'pins'));
  const isolate = opt(raw, key, 'isolate', bool, false);
  if (isolate && via.kind !== 'socks5h') throw new ConfigError(keyOf(key, 'isolate'), 'only for a SOCKS route: it sets the SOCKS username per destination');
  if (isolate && via.kind === 'socks5h' && via.username !== undefined) {
    throw new ConfigError(keyOf(key, 'isolate'), 'cannot be combined with a username in via: isolation uses the SOCKS username itself');
  }
  return { match, names, cidrs, via, trust, pins, isolate };
}

function viaOf(value: unknown, key: string): RouteVia {
  const s = str(value, key);
  if (s === 'direct') return { kind: 'direct' };
  const shape = 'expected "direct" or a SOCKS5 proxy such as "socks5h://127.0.0.1:9050" (socks5h://[user:pass@]host:port)';
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new ConfigError(key, `${shape}, got ${describeValue(s)}`);
  }
  if (url.protocol === 'socks5:' || url.protocol === 'socks:') {
    throw new ConfigError(key, `${url.protocol}// would have fedpeer look names up in its own DNS before handing the address to the proxy; use socks5h:// so the proxy resolves them (Tor needs it for .onion names)`);
  }
  if (url.protocol !== 'socks5h:') throw new ConfigError(key, `${shape}, got ${describeValue(s)}`);
  if (url.hostname === '' || url.port === '' || (url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
    throw new ConfigError(key, `${shape} with the port written out (Tor's SocksPort is 9050), got ${describeValue(s.replace(/:[^:@/]*@/, ':***@'))}`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const username = url.username === '' ? undefined : decodeURIComponent(url.username);
  const password = url.password === '' ? undefined : decodeURIComponent(url.password);
  if (password !== undefined && username === undefined) throw new ConfigError(key, 'has a password but no username (socks5h://user:pass@host:port)');
  // RFC 1929: each is one length byte long.
  for (const [what, v] of [['username', username], ['password', password]] as const) {
    if (v !== undefined && Buffer.byteLength(v) > 255) throw new ConfigError(key, `the SOCKS ${what} is over 255 bytes (RFC 1929)`);
  }
  const hostPort = `${url.hostname}:${url.port}`;
  const via: RouteVia = { kind: 'socks5h', host, port: Number(url.port), display: `socks5h://${username !== undefined ? `${encodeURIComponent(username)}:***@` : ''}${hostPort}` };
  if (username !== undefined) {
    via.username = username;
    // RFC 1929 sends both; a username alone goes with an empty password.
    Object.defineProperty(via, 'password', { value: password ?? '', enumerable: false, writable: false });
  }
  return via;
}

function pinList(value: unknown, key: string): string[] {
  const pins = list(value, key).map((v, i) => {
    const k = indexOf(key, i);
    const s = str(v, k).trim();
    if (SPKI_PIN.test(s)) return s;
    const hex = s.replace(/:/g, '');
    if (HEX_PIN.test(hex)) return hex.toUpperCase().replace(/(..)(?!$)/g, '$1:');
    throw new ConfigError(
      k,
      `expected a certificate's SHA-256 fingerprint (64 hex digits, colons allowed: openssl x509 -noout -fingerprint -sha256) or a public key pin "sha256/<base64 of the SHA-256 of the SubjectPublicKeyInfo>", got ${describeValue(s)}`,
    );
  });
  if (pins.length === 0) throw new ConfigError(key, 'lists no pin; trust: pin needs at least one');
  return pins;
}
