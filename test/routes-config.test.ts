// federation_routes in homeserver.yaml: what is accepted, how it is read,
// and the message (naming the key) for each mistake. Also the router's
// first-match rules over names and addresses. No network.
import t from 'tap';
import { defaultConfig } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';
import type { FederationRoute } from '../src/config/types.js';
import { DEFAULT_ROUTE, createRouter, describeRoute, isOnionName, routeReport } from '../src/federation/routes.js';
import { dialTarget } from '../src/federation/dial.js';
import { main } from '../src/cli.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, formatSigningKeys } from '../src/matrix/signing-key.js';

const routes = (value: unknown): FederationRoute[] => defaultConfig({ baseDir: '/tmp', raw: { federation_routes: value } }).federationRoutes;

function configError(value: unknown): ConfigError {
  try {
    routes(value);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const HEX = 'ab'.repeat(32);
const SPKI = `sha256/${'A'.repeat(43)}=`;

t.test('rules as written', async (t) => {
  t.same(defaultConfig({ baseDir: '/tmp' }).federationRoutes, [], 'none by default');
  const [onion, cjdns, lan] = routes([
    { match: '*.onion', via: 'socks5h://127.0.0.1:9050', trust: 'pin', pins: [HEX, ` ${SPKI} `, HEX.toUpperCase().replace(/(..)(?!$)/g, '$1:')], isolate: true },
    { match: ['fc00::/8', '10.1.2.3'], trust: 'none' },
    { match: ['*.lan', '192.168.0.0/16'], via: 'socks5h://user:p%40ss@[::1]:1080' },
  ]);
  t.same(onion, {
    match: ['*.onion'],
    names: ['*.onion'],
    cidrs: [],
    via: { kind: 'socks5h', host: '127.0.0.1', port: 9050, display: 'socks5h://127.0.0.1:9050' },
    trust: 'pin',
    pins: [HEX.toUpperCase().replace(/(..)(?!$)/g, '$1:'), SPKI, HEX.toUpperCase().replace(/(..)(?!$)/g, '$1:')],
    isolate: true,
  });
  t.same(cjdns, { match: ['fc00::/8', '10.1.2.3'], names: [], cidrs: ['fc00::/8', '10.1.2.3/32'], via: { kind: 'direct' }, trust: 'none', pins: [], isolate: false });
  t.same(lan!.via, { kind: 'socks5h', host: '::1', port: 1080, username: 'user', display: 'socks5h://user:***@[::1]:1080' });
  t.equal((lan!.via as { password?: string }).password, 'p@ss', 'the password is readable ...');
  t.notMatch(JSON.stringify(lan), /p@ss/, '... but never in a dump of the config');
  const userOnly = routes([{ match: '*', via: 'socks5h://tor@127.0.0.1:9050' }])[0]!.via as { username?: string; password?: string };
  t.equal(userOnly.username, 'tor');
  t.equal(userOnly.password, '', 'a username alone goes with an empty password (RFC 1929 sends both)');
});

t.test('each mistake names its key', async (t) => {
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['not a list', { match: '*' }, 'federation_routes', /expected a list/],
    ['not a mapping', ['*.onion'], 'federation_routes[0]', /expected a mapping/],
    ['typo', [{ match: '*', proxy: 'x' }], 'federation_routes[0].proxy', /unknown key; expected one of match, via, trust, pins, isolate/],
    ['no match', [{ via: 'direct' }], 'federation_routes[0].match', /required/],
    ['empty match', [{ match: [] }], 'federation_routes[0].match', /lists no pattern/],
    ['match not a string', [{ match: [1] }], 'federation_routes[0].match[0]', /non-empty string/],
    ['bad glob', [{ match: ['*.onion', 'bücher.example'] }], 'federation_routes[0].match[1]', /ASCII glob/],
    ['bad single glob', [{ match: 'a b' }], 'federation_routes[0].match', /ASCII glob/],
    ['bad CIDR', [{ match: 'fc00::/200' }], 'federation_routes[0].match', /CIDR/],
    ['via garbage', [{ match: '*', via: 'tor' }], 'federation_routes[0].via', /"direct" or a SOCKS5 proxy/],
    ['via socks5', [{ match: '*', via: 'socks5://127.0.0.1:9050' }], 'federation_routes[0].via', /look names up in its own DNS.*use socks5h:\/\//],
    ['via http', [{ match: '*', via: 'http://127.0.0.1:8118' }], 'federation_routes[0].via', /"direct" or a SOCKS5 proxy/],
    ['via no port', [{ match: '*', via: 'socks5h://127.0.0.1' }], 'federation_routes[0].via', /port written out \(Tor's SocksPort is 9050\)/],
    ['via path', [{ match: '*', via: 'socks5h://u:secret@127.0.0.1:9050/x' }], 'federation_routes[0].via', /got "socks5h:\/\/u:\*\*\*@127\.0\.0\.1:9050\/x"/],
    ['via password only', [{ match: '*', via: 'socks5h://:pw@127.0.0.1:9050' }], 'federation_routes[0].via', /password but no username/],
    ['via long user', [{ match: '*', via: `socks5h://${'u'.repeat(256)}@127.0.0.1:9050` }], 'federation_routes[0].via', /username is over 255 bytes/],
    ['trust', [{ match: '*', trust: 'pinned' }], 'federation_routes[0].trust', /"ca", "none", "pin"/],
    ['pin without pins', [{ match: '*', trust: 'pin' }], 'federation_routes[0].pins', /required with trust: pin/],
    ['pins without pin', [{ match: '*', pins: [HEX] }], 'federation_routes[0].pins', /only used with trust: pin \(this rule has trust: ca\)/],
    ['empty pins', [{ match: '*', trust: 'pin', pins: [] }], 'federation_routes[0].pins', /lists no pin/],
    ['bad pin', [{ match: '*', trust: 'pin', pins: [HEX, 'sha1/abc'] }], 'federation_routes[0].pins[1]', /SHA-256 fingerprint .* or a public key pin/],
    ['short hex pin', [{ match: '*', trust: 'pin', pins: ['AB:CD'] }], 'federation_routes[0].pins[0]', /64 hex digits/],
    ['isolate direct', [{ match: '*', isolate: true }], 'federation_routes[0].isolate', /only for a SOCKS route/],
    ['isolate with user', [{ match: '*', via: 'socks5h://u:p@127.0.0.1:9050', isolate: true }], 'federation_routes[0].isolate', /cannot be combined with a username/],
    ['isolate not bool', [{ match: '*', via: 'socks5h://127.0.0.1:9050', isolate: 'yes please' }], 'federation_routes[0].isolate', /true or false/],
  ];
  for (const [name, value, key, message] of cases) {
    const e = configError(value);
    t.equal(e.key, key, `${name}: key`);
    t.match(e.message, message, `${name}: message`);
  }
});

t.test('the router: first match wins, globs on names, CIDRs on addresses', async (t) => {
  const router = createRouter(
    routes([
      { match: '127.9.0.0/16', trust: 'none' },
      { match: ['*.onion', '*.tor.test'], via: 'socks5h://127.0.0.1:9050', isolate: true },
      { match: ['*.test', 'fc00::/8'], via: 'direct', trust: 'none' },
    ]),
  );
  t.equal(router.configured, true);
  t.equal(createRouter([]).configured, false);
  t.match(router.forName('ABC.onion.'), { index: 1, pattern: '*.onion', via: { kind: 'socks5h' }, isolate: true }, 'case and a trailing dot do not matter');
  t.match(router.forName('x.tor.test'), { index: 1, pattern: '*.tor.test' }, 'first rule in order, not the most specific');
  t.match(router.forName('y.test'), { index: 2, pattern: '*.test' });
  t.match(router.forName('[fc00::1]'), { index: 2, pattern: 'fc00::/8' });
  t.match(router.forName('127.9.1.1'), { index: 0 });
  t.equal(router.forName('example.org'), DEFAULT_ROUTE, 'no rule: direct');
  t.equal(router.forName('10.0.0.1'), DEFAULT_ROUTE, 'a CIDR rule never matches a name, a glob never an address');
  // Addresses of a direct name: the first rule matching the name or the address.
  t.match(router.forAddress('y.test', '127.9.3.4', router.forName('y.test')), { index: 0, pattern: '127.9.0.0/16' });
  t.match(router.forAddress('example.org', 'fc00::2', DEFAULT_ROUTE), { index: 2, pattern: 'fc00::/8' });
  t.equal(router.forAddress('example.org', '192.0.2.1', DEFAULT_ROUTE), DEFAULT_ROUTE);
  const onion = router.forName('a.onion');
  t.equal(router.forAddress('a.onion', '127.9.0.1', onion), onion, 'a proxied name has no addresses of its own');
  // A name reached on behalf of a proxied one keeps the proxy; trust stays its own.
  const kept = router.forName('hs.example.test', onion);
  t.match(kept, { index: 2, trust: 'none', via: { kind: 'socks5h' }, isolate: true, inheritedFrom: 'federation_routes[1] ("*.onion", "*.tor.test")' });
  t.match(router.forName('example.org', onion), { index: -1, via: { kind: 'socks5h' }, inheritedFrom: /federation_routes\[1\]/ });
  t.match(describeRoute(router.forName('example.org', onion), 'example.org'), /^example\.org is reached on behalf of a name routed by federation_routes\[1\] .*: a route never falls back/);
  t.match(routeReport(kept), { rule: 'federation_routes[2] ("*.test", "fc00::/8")', via: 'socks5h://127.0.0.1:9050', inherited_from: 'federation_routes[1] ("*.onion", "*.tor.test")' });
  t.equal(routeReport(DEFAULT_ROUTE), null);
  t.equal(routeReport(undefined), null);
  t.equal(describeRoute(DEFAULT_ROUTE, 'Example.org'), 'no federation_routes rule matches example.org: direct (the default)');
  t.equal(describeRoute(router.forName('y.test'), 'y.test'), 'federation_routes[2] ("*.test", "fc00::/8") matches y.test (pattern "*.test"): direct; certificate not verified (trust: none)');
  t.match(describeRoute(router.forName('a.onion'), 'a.onion'), /a SOCKS username of its own \(isolate\); certificate checked as usual$/);
  // .onion without a rule: refused, unless reached on behalf of a proxied name.
  let refused: unknown;
  try {
    createRouter([]).forName('abc.onion');
  } catch (e) {
    refused = e;
  }
  t.match(refused, { step: 'route', check: 'onion-no-route' });
  t.match(createRouter([]).forName('abc.onion', onion), { via: { kind: 'socks5h' } });
  t.ok(isOnionName('onion') && isOnionName('A.ONION.') && !isOnionName('onion.example') && !isOnionName('myonion'));
});

t.test('dialTarget refuses a name on a direct route (never a lookup there)', async (t) => {
  const err = await dialTarget({ address: 'example.org', port: 8448, host: 'example.org', tls_name: 'example.org' }, { connectTimeoutMs: 100, setupTimeoutMs: 100 }).catch((e) => e);
  t.match(err, { step: 'connect', check: 'not-an-address' });
});

t.test('fedpeer config check lists the routes, never a proxy password', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-routes-'));
  writeFileSync(join(dir, 'signing.key'), formatSigningKeys([generateSigningKey()]));
  writeFileSync(
    join(dir, 'hs.yaml'),
    `server_name: me.test\nsigning_key_path: signing.key\nlisteners: [{port: 8008, type: http, resources: [{names: [federation]}]}]\n` +
      `federation_routes:\n  - {match: "*.onion", via: "socks5h://127.0.0.1:9050", trust: pin, pins: ["${SPKI}"], isolate: true}\n  - {match: ["*.lan"], via: "socks5h://me:s3cret@127.0.0.1:1080"}\n`,
  );
  let out = '';
  const io = { stdout: (s: string) => void (out += `${s}\n`), stderr: () => undefined, readStdin: async () => '' };
  t.equal(await main(['config', 'check', join(dir, 'hs.yaml')], io), 0);
  t.match(out, /outbound routes \(first match wins; other names direct\):\n  federation_routes\[0\] \*\.onion -> socks5h:\/\/127\.0\.0\.1:9050, trust pin \(1 pin\), isolated\n  federation_routes\[1\] \*\.lan -> socks5h:\/\/me:\*\*\*@127\.0\.0\.1:1080, trust ca/);
  out = '';
  t.equal(await main(['config', 'check', join(dir, 'hs.yaml'), '--json'], io), 0);
  t.same(JSON.parse(out).routes[1], { rule: 'federation_routes[1]', match: ['*.lan'], via: 'socks5h://me:***@127.0.0.1:1080', trust: 'ca', pins: 0, isolate: false });
  t.notMatch(out, /s3cret/);
});
