import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { BlockList } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { ALWAYS_BLOCKED, DEFAULT_IP_RANGE_BLACKLIST } from '../src/config/defaults.js';
import { parseDuration } from '../src/config/duration.js';
import { ConfigError, describeValue } from '../src/config/errors.js';
import {
  KNOWN_KEYS,
  checkConfigFiles,
  defaultConfig,
  loadConfig,
  parseConfig,
  requireTlsSource,
  requiredFiles,
} from '../src/config/load.js';
import { formatCidr, isDnsServer, parseCidr } from '../src/config/net.js';
import { parseSize } from '../src/config/size.js';
import type { TcpListenerConfig, UnixListenerConfig } from '../src/config/types.js';

const fixtures = fileURLToPath(new URL('./fixtures/config/', import.meta.url));
const fixture = (name: string): string => readFileSync(join(fixtures, name), 'utf8');

const BASE = '/srv/fedpeer';
const parse = (raw: Record<string, unknown>) => parseConfig({ server_name: 'example.org', ...raw }, { baseDir: BASE });

/** The ConfigError `fn` throws, failing the test if it throws anything else. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

t.test('durations', async (t) => {
  const cases: Array<[unknown, number]> = [
    [0, 0],
    [1500, 1500],
    ['1500', 1500],
    ['10s', 10_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1w', 604_800_000],
    ['1y', 365 * 86_400_000],
    [' 3s ', 3000],
  ];
  for (const [input, ms] of cases) t.equal(parseDuration(input), ms, `${JSON.stringify(input)} -> ${ms}`);

  for (const bad of [true, null, undefined, {}, [], '', 'd', '1.5d', '-1s', '1x', '1 d', '1D', 1.5, -1, 2 ** 60, '9'.repeat(20)]) {
    const e = configError(() => parseDuration(bad, 'key_refresh_interval'));
    t.equal(e.key, 'key_refresh_interval', `rejects ${describeValue(bad)}`);
  }
  t.equal(
    configError(() => parseDuration(true, 'key_refresh_interval')).message,
    'key_refresh_interval: expected a duration such as "1d" or a number of milliseconds, got true',
  );
  t.equal(configError(() => parseDuration('x')).key, 'duration', 'default key for callers outside a config');
});

t.test('sizes', async (t) => {
  const cases: Array<[unknown, number]> = [
    [0, 0],
    [65536, 65536],
    ['65536', 65536],
    ['64K', 65536],
    ['64k', 65536],
    ['10M', 10 * 1024 * 1024],
    ['2G', 2 * 1024 ** 3],
    ['1T', 1024 ** 4],
  ];
  for (const [input, bytes] of cases) t.equal(parseSize(input), bytes, `${JSON.stringify(input)} -> ${bytes}`);
  for (const bad of [false, null, {}, '', 'K', '1.5M', '-1', '10MB', '10 M', 0.5, -3, '9'.repeat(20)]) {
    t.equal(configError(() => parseSize(bad, 'limits.body_limit')).key, 'limits.body_limit', `rejects ${describeValue(bad)}`);
  }
  t.match(configError(() => parseSize('10MB')).message, /^size: expected a size such as "64K", "10M" or a number of bytes, got "10MB"$/);
});

t.test('describeValue keeps messages on one short line', async (t) => {
  t.equal(describeValue(undefined), 'nothing');
  t.equal(describeValue(null), 'null');
  t.equal(describeValue([1]), 'a list');
  t.equal(describeValue({ a: 1 }), 'a mapping');
  t.equal(describeValue(new Date('2020-01-02T03:04:05Z')), 'a date (2020-01-02)');
  t.equal(describeValue(42), '42');
  t.equal(describeValue('x'.repeat(100)), JSON.stringify(`${'x'.repeat(57)}...`));
});

t.test('a Synapse-generated homeserver.yaml loads as it is', async (t) => {
  const file = join(fixtures, 'synapse-generated.yaml');
  const config = await loadConfig(file, { checkFiles: false });
  t.equal(config.sourcePath, file);
  t.equal(config.baseDir, fixtures.replace(/\/$/, ''));
  t.equal(config.serverName, 'example.org');
  t.same(config.ignoredKeys, [
    'database',
    'log_config',
    'media_store_path',
    'registration_shared_secret',
    'report_stats',
    'macaroon_secret_key',
    'form_secret',
  ]);
  t.equal(config.pidFile, '/data/homeserver.pid');
  t.equal(config.signingKeyPath, '/data/example.org.signing.key');
  t.strictSame(config.listeners, [
    {
      kind: 'tcp',
      port: 8008,
      bindAddresses: ['::', '0.0.0.0'],
      tls: false,
      type: 'http',
      xForwarded: true,
      resources: [{ names: ['client', 'federation'], compress: false }],
    },
  ]);
  t.same(config.trustedKeyServers, [{ serverName: 'matrix.org', acceptKeysInsecurely: false }]);

  // Everything it does not mention is defaulted.
  t.equal(config.keyRefreshIntervalMs, 86_400_000);
  t.same(config.oldSigningKeys, {});
  t.equal(config.publicBaseurl, undefined);
  t.equal(config.serveServerWellknown, false);
  t.equal(config.dataDir, join(fixtures, 'data'));
  t.same(config.tlsCertificates, []);
  t.equal(config.tlsMinimumVersion, '1.2');
  t.same(config.extraWellKnownClientContent, {});
  t.equal(config.wellKnownCacheMaxAgeMs, 3_600_000);
  t.same(config.acme, {
    enabled: false,
    directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory',
    domains: [],
    renewDaysBefore: 30,
    storageDir: join(fixtures, 'keys/acme'),
  });
  t.equal(config.federationVerifyCertificates, true);
  t.same(config.federationCustomCaList, []);
  t.equal(config.federationCustomCaMode, 'replace');
  t.same(config.federationCertificateVerificationWhitelist, []);
  t.equal(config.federationClientMinimumTlsVersion, '1.2');
  t.same(config.ipRangeBlacklist, [...DEFAULT_IP_RANGE_BLACKLIST, ...ALWAYS_BLOCKED]);
  t.same(config.ipRangeWhitelist, []);
  t.same(config.federationDnsServers, []);
  t.equal(config.federationDomainWhitelist, null);
  t.same(config.testUsers, {});
  t.same(config.notary, { maxBodySize: 65536, maxServers: 100, maxKeysPerServer: 50 });
  t.same(config.checkPage, { enabled: false });
  t.same(config.limits, {
    connectionTimeoutMs: 10_000,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    keepAliveTimeoutMs: 5_000,
    bodyLimit: 65536,
    maxConnections: 1000,
    rateLimit: { perSecond: 10, burst: 50 },
    trustedProxies: ['127.0.0.0/8', '::1/128'],
  });
  t.same(config.federationClient, {
    requestTimeoutMs: 60_000,
    maxResponseSize: 10 * 1024 * 1024,
    maxConnectionsPerDestination: 10,
  });
});

t.test('loadConfig reports the missing signing key of the generated file', async (t) => {
  await t.rejects(loadConfig(join(fixtures, 'synapse-generated.yaml')), {
    name: 'ConfigError',
    key: 'signing_key_path',
    message: 'signing_key_path: file not found: /data/example.org.signing.key',
  });
});

/** The full fixture in a scratch directory with every file it names. */
function fullDir(t: Test): string {
  return t.testdir({
    'homeserver.yaml': fixture('fedpeer-full.yaml'),
    keys: { 'signing.key': 'ed25519 a_test c2VlZHNlZWRzZWVkc2VlZHNlZWRzZWVkc2VlZHNlZWQ\n' },
    tls: {
      'example.org.crt': 'cert\n',
      'example.org.key': 'key\n',
      'matrix.example.org.crt': 'cert\n',
      'matrix.example.org.key': 'key\n',
      'pebble.minica.pem': 'ca\n',
      'private-ca.pem': 'ca\n',
    },
    www: {},
  });
}

t.test('every key fedpeer reads, relative paths resolved', async (t) => {
  const dir = fullDir(t);
  const c = await loadConfig(join(dir, 'homeserver.yaml'));
  const at = (p: string): string => join(dir, p);

  t.equal(c.serverName, 'example.org:8448');
  t.equal(c.pidFile, at('run/fedpeer.pid'));
  t.equal(c.publicBaseurl, 'https://matrix.example.org/');
  t.equal(c.serveServerWellknown, true, 'YAML 1.1 "yes" is true, as in PyYAML');
  t.equal(c.signingKeyPath, at('keys/signing.key'));
  t.same(c.oldSigningKeys, {
    'ed25519:old1': { key: 'l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ', expiredTs: 1576767829750 },
  });
  t.equal(c.keyRefreshIntervalMs, 7_200_000);
  t.equal(c.dataDir, at('var'));

  t.equal(c.listeners.length, 4);
  const [fed, acmeL, metrics, unix] = c.listeners as [TcpListenerConfig, TcpListenerConfig, TcpListenerConfig, UnixListenerConfig];
  t.strictSame(fed, {
    kind: 'tcp',
    port: 8448,
    bindAddresses: ['127.0.0.1', '::1'],
    tls: true,
    type: 'http',
    xForwarded: false,
    resources: [{ names: ['federation', 'keys'], compress: false }],
  });
  t.same(acmeL.bindAddresses, ['127.0.0.1'], 'singular bind_address');
  t.equal(acmeL.type, 'acme');
  t.same(acmeL.resources, []);
  t.same(metrics.bindAddresses, ['0.0.0.0'], "metrics listeners default to IPv4 only, as in Synapse");
  t.same(metrics.resources, [{ names: ['metrics'], compress: false }]);
  t.strictSame(unix, {
    kind: 'unix',
    path: at('run/fedpeer.sock'),
    mode: 0o600,
    tls: false,
    type: 'http',
    xForwarded: true,
    resources: [{ names: ['client'], compress: false }],
  });

  t.equal(c.tlsCertificatePath, at('tls/example.org.crt'));
  t.equal(c.tlsPrivateKeyPath, at('tls/example.org.key'));
  t.same(c.tlsCertificates, [
    { certificatePath: at('tls/matrix.example.org.crt'), privateKeyPath: at('tls/matrix.example.org.key') },
  ]);
  t.equal(c.tlsMinimumVersion, '1.3', 'a YAML number 1.3 is read as the string "1.3"');
  t.equal(c.wellKnownServer, 'matrix.example.org:443');
  t.same(c.extraWellKnownClientContent, { 'org.example.custom': { setting: 1 } });
  t.strictSame(c.wellKnownSupport, {
    contacts: [
      { role: 'm.role.admin', matrixId: '@admin:example.org' },
      { role: 'm.role.security', emailAddress: 'security@example.org' },
    ],
    supportPage: 'https://example.org/support',
  });
  t.equal(c.wellKnownCacheMaxAgeMs, 1_800_000);
  t.equal(c.wellKnownDir, at('www'));
  t.same(c.acme, {
    enabled: true,
    directoryUrl: 'https://127.0.0.1:14000/dir',
    caCertificatePath: at('tls/pebble.minica.pem'),
    accountEmail: 'admin@example.org',
    domains: ['example.org', 'matrix.example.org'],
    renewDaysBefore: 20,
    storageDir: at('acme-state'),
    webroot: at('www'),
    port: 5002,
  });

  t.equal(c.federationVerifyCertificates, true);
  t.same(c.federationCustomCaList, [at('tls/private-ca.pem')]);
  t.equal(c.federationCustomCaMode, 'append');
  t.same(c.federationCertificateVerificationWhitelist, ['*.onion', 'lon.example.com', 'fc00::/8', '10.1.2.3']);
  t.equal(c.federationClientMinimumTlsVersion, '1.3');
  t.same(c.ipRangeBlacklist, ['10.0.0.0/8', '127.0.0.1/32', 'fc00::/7', ...ALWAYS_BLOCKED]);
  t.same(c.ipRangeWhitelist, ['10.99.0.0/16']);
  t.same(c.federationDnsServers, ['127.0.0.53', '127.0.0.53:5353', '::1', '[::1]:53']);
  t.same(c.federationDomainWhitelist, ['example.com', 'example.net']);

  t.same(c.trustedKeyServers, [
    {
      serverName: 'notary.example.net',
      acceptKeysInsecurely: false,
      verifyKeys: { 'ed25519:auto': 'Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw' },
    },
    { serverName: '[2001:db8::1]:8448', acceptKeysInsecurely: true },
  ]);
  t.strictSame(c.testUsers, {
    '@alice:example.org': { displayname: 'Alice', avatarUrl: 'mxc://example.org/alice' },
    '@bob:example.org': {},
  });
  t.same(c.notary, { maxBodySize: 128 * 1024, maxServers: 20, maxKeysPerServer: 5 });
  t.same(c.checkPage, { enabled: true });
  t.same(c.limits, {
    connectionTimeoutMs: 5000,
    headersTimeoutMs: 6000,
    requestTimeoutMs: 45000,
    keepAliveTimeoutMs: 60000,
    bodyLimit: 1024 * 1024,
    maxConnections: 64,
    rateLimit: { perSecond: 3, burst: 9 },
    trustedProxies: ['10.0.0.5/32', 'fd00::/8'],
  });
  t.same(c.federationClient, { requestTimeoutMs: 120_000, maxResponseSize: 2097152, maxConnectionsPerDestination: 4 });
  t.same(c.ignoredKeys, ['database', 'report_stats', 'enable_registration']);
});

t.test('loadConfig names the key of each missing file', async (t) => {
  const keyed: Array<[string, string]> = [
    ['signing_key_path', 'keys/signing.key'],
    ['tls_certificate_path', 'tls/example.org.crt'],
    ['tls_private_key_path', 'tls/example.org.key'],
    ['tls_certificates[0].certificate_path', 'tls/matrix.example.org.crt'],
    ['tls_certificates[0].private_key_path', 'tls/matrix.example.org.key'],
    ['federation_custom_ca_list[0]', 'tls/private-ca.pem'],
    ['acme.ca_certificate_path', 'tls/pebble.minica.pem'],
  ];
  for (const [key, rel] of keyed) {
    const dir = fullDir(t);
    rmSync(join(dir, rel));
    await t.rejects(loadConfig(join(dir, 'homeserver.yaml')), { key, message: `${key}: file not found: ${join(dir, rel)}` }, key);
  }

  const dir = fullDir(t);
  rmSync(join(dir, 'www'), { recursive: true });
  await t.rejects(loadConfig(join(dir, 'homeserver.yaml')), { key: 'well_known_dir', message: /directory not found/ });
  writeFileSync(join(dir, 'www'), 'not a dir');
  await t.rejects(loadConfig(join(dir, 'homeserver.yaml')), {
    key: 'well_known_dir',
    message: `well_known_dir: expected a directory, found a file: ${join(dir, 'www')}`,
  });
  rmSync(join(dir, 'www'));
  mkdirSync(join(dir, 'www'));
  rmSync(join(dir, 'keys/signing.key'));
  mkdirSync(join(dir, 'keys/signing.key'));
  await t.rejects(loadConfig(join(dir, 'homeserver.yaml')), {
    key: 'signing_key_path',
    message: /expected a file, found a directory/,
  });
  await t.resolves(loadConfig(join(dir, 'homeserver.yaml'), { checkFiles: false }), 'checkFiles: false skips the checks');
});

t.test('unreadable files are reported as such', { skip: process.getuid?.() === 0 && 'root reads everything' }, async (t) => {
  const dir = fullDir(t);
  chmodSync(join(dir, 'tls/example.org.key'), 0o000);
  await t.rejects(loadConfig(join(dir, 'homeserver.yaml')), { key: 'tls_private_key_path', message: /cannot read .*EACCES/ });
});

t.test('checkConfigFiles reports other stat failures', async (t) => {
  const dir = t.testdir({ 'a-file': 'x' });
  const config = parse({ signing_key_path: join(dir, 'a-file', 'below-a-file') });
  await t.rejects(checkConfigFiles(config), { key: 'signing_key_path', message: /file not found/ }, 'ENOTDIR is "not found"');
  const loop = parse({ signing_key_path: join(dir, 'loop') });
  symlinkSync(join(dir, 'loop'), join(dir, 'loop'));
  await t.rejects(checkConfigFiles(loop), { key: 'signing_key_path', message: /cannot access .*ELOOP/ });
});

t.test('requiredFiles skips the signing key file when the key is inline', async (t) => {
  const line = 'ed25519 a_test c2VlZHNlZWRzZWVkc2VlZHNlZWRzZWVkc2VlZHNlZWQ';
  const c = parse({ signing_key: `${line}\n` });
  t.equal(c.signingKey, line);
  t.notMatch(JSON.stringify(c), /c2VlZHNl/, 'the inline key stays out of JSON dumps and logs');
  t.notOk('signingKey' in parse({}), 'absent when not configured');
  t.same(requiredFiles(c), []);
  const e = configError(() => parse({ signing_key: 'secret-seed-only' }));
  t.equal(e.key, 'signing_key');
  t.notMatch(e.message, /secret-seed-only/, 'the secret is not echoed');
});

t.test('the config file itself', async (t) => {
  const dir = t.testdir({
    'empty.yaml': '',
    'list.yaml': '- server_name: example.org\n',
    'broken.yaml': 'server_name: [unclosed\n',
    'yaml11.yaml': [
      'server_name: example.org',
      'serve_server_wellknown: on',
      'federation_verify_certificates: no',
      'listeners:',
      '  - path: /run/s.sock',
      '    mode: 0660',
      'server_name: example.net',
      '',
    ].join('\n'),
  });
  await t.rejects(loadConfig(join(dir, 'missing.yaml')), { key: '', message: `config file not found: ${join(dir, 'missing.yaml')}` });
  await t.rejects(loadConfig(dir), { key: '', message: /^cannot read config file \(EISDIR\)/ });
  await t.rejects(loadConfig(join(dir, 'empty.yaml')), { key: '', message: /empty\.yaml: expected a YAML mapping/ });
  await t.rejects(loadConfig(join(dir, 'list.yaml')), { key: '', message: /expected a YAML mapping/ });
  await t.rejects(loadConfig(join(dir, 'broken.yaml')), { key: '', message: /broken\.yaml: invalid YAML: / });
  const c = await loadConfig(join(dir, 'yaml11.yaml'), { checkFiles: false });
  t.equal(c.serverName, 'example.net', 'a repeated key: the last one wins, as in PyYAML');
  t.equal(c.serveServerWellknown, true);
  t.equal(c.federationVerifyCertificates, false);
  t.equal((c.listeners[0] as UnixListenerConfig).mode, 0o660, 'YAML 1.1 octal');
});

t.test('parseConfig without a file', async (t) => {
  const c = parseConfig({ server_name: 'example.org' }, { baseDir: 'relative/dir' });
  t.equal(c.baseDir, join(process.cwd(), 'relative/dir'), 'baseDir is made absolute');
  t.equal(c.sourcePath, undefined);
  t.equal(c.signingKeyPath, join(process.cwd(), 'relative/dir/example.org.signing.key'), "Synapse's default key path");
  t.same(c.listeners, []);
  t.throws(() => parseConfig(null, { baseDir: BASE }), { key: '', message: /^expected a YAML mapping/ });
  t.throws(() => parseConfig({}, { baseDir: BASE }), { key: 'server_name', message: /^server_name: required/ });
  t.throws(() => parseConfig({ server_name: null }, { baseDir: BASE }), { name: 'ConfigError', key: 'server_name' });
  t.ok(KNOWN_KEYS.has('listeners') && !KNOWN_KEYS.has('database'));
});

t.test('every validation error names its key', async (t) => {
  const base64Key = 'Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw';
  const cases: Array<[string, Record<string, unknown>, string, RegExp?]> = [
    ['server_name not a string', { server_name: 8448 }, 'server_name', /expected a non-empty string, got 8448/],
    ['server_name invalid', { server_name: 'exa mple.org' }, 'server_name', /invalid server name "exa mple.org".*expected a host/],
    ['server_name bad port', { server_name: 'example.org:99999' }, 'server_name', /port/],
    ['server_name bare IPv6', { server_name: '::1' }, 'server_name'],

    ['listeners not a list', { listeners: { port: 1 } }, 'listeners', /expected a list, got a mapping/],
    ['listener not a mapping', { listeners: ['8448'] }, 'listeners[0]', /expected a mapping/],
    ['listener port out of range', { listeners: [{ port: 8448 }, { port: 70000 }] }, 'listeners[1].port', /^listeners\[1\]\.port: expected an integer 1-65535, got 70000$/],
    ['listener port a string', { listeners: [{ port: '8448' }] }, 'listeners[0].port', /expected an integer 1-65535, got "8448"/],
    ['listener port and path', { listeners: [{ port: 1, path: '/s' }] }, 'listeners[0]', /both "port" and "path"/],
    ['listener neither', { listeners: [{ type: 'http' }] }, 'listeners[0].port', /required/],
    ['listener tls', { listeners: [{ port: 1, tls: 'yes please' }] }, 'listeners[0].tls', /expected true or false/],
    ['listener type', { listeners: [{ port: 1, type: 3 }] }, 'listeners[0].type'],
    ['listener x_forwarded', { listeners: [{ port: 1, x_forwarded: 1 }] }, 'listeners[0].x_forwarded'],
    ['trusted proxy', { limits: { trusted_proxies: ['10.0.0.5', 'proxy.example'] } }, 'limits.trusted_proxies[1]', /IP address or CIDR range of a reverse proxy/],
    ['listener bind_addresses', { listeners: [{ port: 1, bind_addresses: '::' }] }, 'listeners[0].bind_addresses', /expected a list/],
    ['listener bind_addresses entry', { listeners: [{ port: 1, bind_addresses: ['::', 4] }] }, 'listeners[0].bind_addresses[1]'],
    ['listener bind_address', { listeners: [{ port: 1, bind_address: [] }] }, 'listeners[0].bind_address'],
    ['listener mode', { listeners: [{ path: '/s', mode: 0o1777 }] }, 'listeners[0].mode', /0-511/],
    ['listener path', { listeners: [{ path: 5 }] }, 'listeners[0].path'],
    ['resources', { listeners: [{ port: 1, resources: { names: [] } }] }, 'listeners[0].resources'],
    ['resource entry', { listeners: [{ port: 1, resources: [{ names: ['client'] }, 'keys'] }] }, 'listeners[0].resources[1]'],
    ['resource names', { listeners: [{ port: 1, resources: [{ names: 'client' }] }] }, 'listeners[0].resources[0].names'],
    ['resource name', { listeners: [{ port: 1, resources: [{ names: ['client', null] }] }] }, 'listeners[0].resources[0].names[1]'],
    ['resource compress', { listeners: [{ port: 1, resources: [{ compress: 'gzip' }] }] }, 'listeners[0].resources[0].compress'],

    ['public_baseurl garbage', { public_baseurl: 'not a url' }, 'public_baseurl', /expected an http or https URL/],
    ['public_baseurl scheme', { public_baseurl: 'ftp://example.org/' }, 'public_baseurl', /expected an http or https URL/],
    ['public_baseurl query', { public_baseurl: 'https://example.org/?a=1' }, 'public_baseurl', /query string/],
    ['public_baseurl fragment', { public_baseurl: 'https://example.org/#x' }, 'public_baseurl', /fragment/],
    ['serve_server_wellknown', { serve_server_wellknown: 'true' }, 'serve_server_wellknown'],
    ['pid_file', { pid_file: '' }, 'pid_file', /non-empty string, got ""/],

    ['signing_key_path', { signing_key_path: ['a'] }, 'signing_key_path'],
    ['old_signing_keys', { old_signing_keys: [] }, 'old_signing_keys', /expected a mapping, got a list/],
    ['old key entry', { old_signing_keys: { 'ed25519:a': 'abc' } }, 'old_signing_keys["ed25519:a"]'],
    ['old key id', { old_signing_keys: { nocolon: { key: base64Key, expired_ts: 1 } } }, 'old_signing_keys["nocolon"]', /key id/],
    ['old key algorithm', { old_signing_keys: { 'rsa:a': { key: base64Key, expired_ts: 1 } } }, 'old_signing_keys["rsa:a"]', /unsupported signing algorithm "rsa"/],
    ['old key base64', { old_signing_keys: { 'ed25519:a': { key: 'not*base64', expired_ts: 1 } } }, 'old_signing_keys["ed25519:a"].key', /Ed25519 public key/],
    ['old key length', { old_signing_keys: { 'ed25519:a': { key: 'AAAA', expired_ts: 1 } } }, 'old_signing_keys["ed25519:a"].key'],
    ['old key missing key', { old_signing_keys: { 'ed25519:a': { expired_ts: 1 } } }, 'old_signing_keys["ed25519:a"].key'],
    ['old key expired_ts', { old_signing_keys: { 'ed25519:a': { key: base64Key } } }, 'old_signing_keys["ed25519:a"].expired_ts', /required/],
    ['old key expired_ts type', { old_signing_keys: { 'ed25519:a': { key: base64Key, expired_ts: '2020' } } }, 'old_signing_keys["ed25519:a"].expired_ts', /integer >= 0/],
    ['key_refresh_interval', { key_refresh_interval: true }, 'key_refresh_interval', /^key_refresh_interval: expected a duration such as "1d" or a number of milliseconds, got true$/],
    ['data_dir', { data_dir: 1 }, 'data_dir'],

    ['tls cert without key', { tls_certificate_path: 'a.crt' }, 'tls_private_key_path', /required when tls_certificate_path is set/],
    ['tls key without cert', { tls_private_key_path: 'a.key' }, 'tls_certificate_path', /required when tls_private_key_path is set/],
    ['tls_certificates', { tls_certificates: 'a.crt' }, 'tls_certificates'],
    ['tls_certificates entry', { tls_certificates: [['a']] }, 'tls_certificates[0]'],
    ['tls_certificates missing key', { tls_certificates: [{ certificate_path: 'a.crt' }] }, 'tls_certificates[0].private_key_path', /required/],
    ['tls_certificates typo', { tls_certificates: [{ certificate_path: 'a', private_key_path: 'b', chain: 'c' }] }, 'tls_certificates[0].chain', /unknown key; expected one of certificate_path, private_key_path/],
    ['tls_minimum_version', { tls_minimum_version: 1.1 }, 'tls_minimum_version', /one of "1.2", "1.3", got 1.1/],
    ['well_known_server', { well_known_server: 'https://matrix.example.org' }, 'well_known_server', /invalid server name/],
    ['extra client content', { extra_well_known_client_content: 'x' }, 'extra_well_known_client_content'],
    ['extra m.homeserver', { extra_well_known_client_content: { 'm.homeserver': {} } }, 'extra_well_known_client_content["m.homeserver"]', /public_baseurl/],
    ['extra m.identity_server', { extra_well_known_client_content: { 'm.identity_server': {} } }, 'extra_well_known_client_content["m.identity_server"]'],
    ['well_known_support', { well_known_support: [] }, 'well_known_support'],
    ['support empty', { well_known_support: {} }, 'well_known_support', /contacts.*support_page/],
    ['support typo', { well_known_support: { contact: [] } }, 'well_known_support.contact', /unknown key/],
    ['support contacts', { well_known_support: { contacts: {} } }, 'well_known_support.contacts'],
    ['support role', { well_known_support: { contacts: [{ matrix_id: '@a:b.c' }] } }, 'well_known_support.contacts[0].role', /required/],
    ['support unreachable', { well_known_support: { contacts: [{ role: 'm.role.admin' }] } }, 'well_known_support.contacts[0]', /matrix_id.*email_address/],
    ['support matrix_id', { well_known_support: { contacts: [{ role: 'm.role.admin', matrix_id: 'admin' }] } }, 'well_known_support.contacts[0].matrix_id', /user id/],
    ['support matrix_id server', { well_known_support: { contacts: [{ role: 'm.role.admin', matrix_id: '@a:bad host' }] } }, 'well_known_support.contacts[0].matrix_id', /invalid server name/],
    ['support email', { well_known_support: { contacts: [{ role: 'm.role.admin', email_address: 'nobody' }] } }, 'well_known_support.contacts[0].email_address', /email address/],
    ['support page', { well_known_support: { support_page: 'example.org/help' } }, 'well_known_support.support_page', /URL/],
    ['support page scheme', { well_known_support: { support_page: 'mailto:a@b.c' } }, 'well_known_support.support_page', /URL/],
    ['well_known_cache_max_age', { well_known_cache_max_age: '1 hour' }, 'well_known_cache_max_age'],
    ['well_known_dir', { well_known_dir: false }, 'well_known_dir'],

    ['acme not a mapping', { acme: true }, 'acme', /expected a mapping, got true/],
    ['acme typo', { acme: { enable: true } }, 'acme.enable', /unknown key/],
    ['acme enabled', { acme: { enabled: 'true' } }, 'acme.enabled'],
    ['acme directory_url', { acme: { directory_url: 'letsencrypt' } }, 'acme.directory_url'],
    ['acme domains', { acme: { domains: 'example.org' } }, 'acme.domains', /expected a list/],
    ['acme domain with port', { acme: { domains: ['example.org', 'example.org:443'] } }, 'acme.domains[1]', /DNS name without a port/],
    ['acme domain IP', { acme: { domains: ['192.0.2.1'] } }, 'acme.domains[0]', /DNS name/],
    ['acme domain garbage', { acme: { domains: ['a b'] } }, 'acme.domains[0]', /DNS name/],
    ['acme renew_days_before', { acme: { renew_days_before: 0 } }, 'acme.renew_days_before', /1-365/],
    ['acme account_email', { acme: { account_email: 'admin' } }, 'acme.account_email'],
    ['acme port', { acme: { port: 0 } }, 'acme.port'],
    ['acme storage_dir', { acme: { storage_dir: {} } }, 'acme.storage_dir'],
    ['acme legacy domain', { acme: { domain: 'example.org:8448' } }, 'acme.domain'],

    ['federation_verify_certificates', { federation_verify_certificates: 'no' }, 'federation_verify_certificates'],
    ['custom CA list empty', { federation_custom_ca_list: [] }, 'federation_custom_ca_list', /system CAs/],
    ['custom CA list entry', { federation_custom_ca_list: ['a.pem', 1] }, 'federation_custom_ca_list[1]'],
    ['custom CA mode', { federation_custom_ca_mode: 'merge' }, 'federation_custom_ca_mode', /"replace", "append"/],
    ['whitelist not a list', { federation_certificate_verification_whitelist: '*.onion' }, 'federation_certificate_verification_whitelist'],
    ['whitelist IDNA', { federation_certificate_verification_whitelist: ['*.onion', 'bücher.example'] }, 'federation_certificate_verification_whitelist[1]', /ASCII/],
    ['whitelist bad CIDR', { federation_certificate_verification_whitelist: ['fc00::/200'] }, 'federation_certificate_verification_whitelist[0]', /CIDR/],
    ['client TLS version', { federation_client_minimum_tls_version: '1.4' }, 'federation_client_minimum_tls_version', /"1", "1.1", "1.2", "1.3"/],
    ['ip_range_blacklist', { ip_range_blacklist: '10.0.0.0/8' }, 'ip_range_blacklist', /expected a list/],
    ['ip_range_blacklist entry', { ip_range_blacklist: ['10.0.0.0/8', '10.0.0.0/33'] }, 'ip_range_blacklist[1]', /CIDR/],
    ['ip_range_blacklist not a string', { ip_range_blacklist: [10] }, 'ip_range_blacklist[0]'],
    ['ip_range_whitelist entry', { ip_range_whitelist: ['example.org'] }, 'ip_range_whitelist[0]'],
    ['federation_ip_range_blacklist', { federation_ip_range_blacklist: ['fe80::1%eth0'] }, 'federation_ip_range_blacklist[0]'],
    ['dns servers', { federation_dns_servers: ['1.1.1.1', 'dns.example.org'] }, 'federation_dns_servers[1]', /IP address with an optional port/],
    ['dns server port', { federation_dns_servers: ['1.1.1.1:0'] }, 'federation_dns_servers[0]'],
    ['dns server v6 port', { federation_dns_servers: ['[::1]53'] }, 'federation_dns_servers[0]'],
    ['dns server bracketed v4', { federation_dns_servers: ['[1.1.1.1]:53'] }, 'federation_dns_servers[0]'],
    ['domain whitelist', { federation_domain_whitelist: [true] }, 'federation_domain_whitelist[0]'],

    ['trusted_key_servers', { trusted_key_servers: { server_name: 'matrix.org' } }, 'trusted_key_servers'],
    ['trusted key server entry', { trusted_key_servers: ['matrix.org'] }, 'trusted_key_servers[0]'],
    ['trusted key server name', { trusted_key_servers: [{ verify_keys: {} }] }, 'trusted_key_servers[0].server_name', /required/],
    ['trusted key server bad name', { trusted_key_servers: [{ server_name: 'matrix.org/' }] }, 'trusted_key_servers[0].server_name'],
    ['trusted key server insecure', { trusted_key_servers: [{ server_name: 'a.b', accept_keys_insecurely: 1 }] }, 'trusted_key_servers[0].accept_keys_insecurely'],
    ['trusted verify_keys', { trusted_key_servers: [{ server_name: 'a.b', verify_keys: ['k'] }] }, 'trusted_key_servers[0].verify_keys'],
    ['trusted verify key', { trusted_key_servers: [{ server_name: 'a.b', verify_keys: { 'ed25519:auto': 'short' } }] }, 'trusted_key_servers[0].verify_keys["ed25519:auto"]', /43 characters/],
    ['trusted verify key id', { trusted_key_servers: [{ server_name: 'a.b', verify_keys: { auto: base64Key } }] }, 'trusted_key_servers[0].verify_keys["auto"]'],

    ['test_users', { test_users: ['@a:b.c'] }, 'test_users'],
    ['test user id', { test_users: { alice: {} } }, 'test_users["alice"]', /user id/],
    ['test user id empty localpart', { test_users: { '@:b.c': {} } }, 'test_users["@:b.c"]'],
    ['test user server', { test_users: { '@alice:b c': {} } }, 'test_users["@alice:b c"]'],
    ['test user profile', { test_users: { '@a:b.c': 'Alice' } }, 'test_users["@a:b.c"]', /mapping/],
    ['test user typo', { test_users: { '@a:b.c': { display_name: 'A' } } }, 'test_users["@a:b.c"].display_name', /unknown key \(did you mean displayname\?\); expected one of displayname, avatar_url/],
    ['test user displayname', { test_users: { '@a:b.c': { displayname: 1 } } }, 'test_users["@a:b.c"].displayname'],
    ['test user avatar', { test_users: { '@a:b.c': { avatar_url: 'https://example.org/a.png' } } }, 'test_users["@a:b.c"].avatar_url', /mxc/],

    ['notary', { notary: 'on' }, 'notary'],
    ['notary typo', { notary: { max_body: '1K' } }, 'notary.max_body', /unknown key/],
    ['notary max_body_size', { notary: { max_body_size: '64KB' } }, 'notary.max_body_size', /size/],
    ['notary max_servers', { notary: { max_servers: 0 } }, 'notary.max_servers', /integer >= 1/],
    ['notary max_keys_per_server', { notary: { max_keys_per_server: 2.5 } }, 'notary.max_keys_per_server'],

    ['check_page', { check_page: true }, 'check_page'],
    ['check_page typo', { check_page: { enable: true } }, 'check_page.enable'],
    ['check_page enabled', { check_page: { enabled: 'yes' } }, 'check_page.enabled'],
    ['limits', { limits: [] }, 'limits'],
    ['limits typo', { limits: { body_size: 1 } }, 'limits.body_size'],
    ['limits connection_timeout', { limits: { connection_timeout: '10 s' } }, 'limits.connection_timeout', /duration/],
    ['limits headers_timeout', { limits: { headers_timeout: -1 } }, 'limits.headers_timeout'],
    ['limits request_timeout', { limits: { request_timeout: '1.5m' } }, 'limits.request_timeout'],
    ['limits keep_alive_timeout', { limits: { keep_alive_timeout: false } }, 'limits.keep_alive_timeout'],
    ['limits body_limit', { limits: { body_limit: '1 M' } }, 'limits.body_limit'],
    ['limits max_connections', { limits: { max_connections: 0 } }, 'limits.max_connections'],
    ['limits rate_limit', { limits: { rate_limit: 10 } }, 'limits.rate_limit'],
    ['limits rate_limit typo', { limits: { rate_limit: { rate: 1 } } }, 'limits.rate_limit.rate'],
    ['limits rate_limit per_second', { limits: { rate_limit: { per_second: 0 } } }, 'limits.rate_limit.per_second'],
    ['limits rate_limit burst', { limits: { rate_limit: { burst: '50' } } }, 'limits.rate_limit.burst'],
    ['federation_client', { federation_client: 'fast' }, 'federation_client'],
    ['federation_client typo', { federation_client: { timeout: '1s' } }, 'federation_client.timeout'],
    ['federation_client request_timeout', { federation_client: { request_timeout: 'soon' } }, 'federation_client.request_timeout'],
    ['federation_client max_response_size', { federation_client: { max_response_size: '10X' } }, 'federation_client.max_response_size'],
    ['federation_client max_connections_per_destination', { federation_client: { max_connections_per_destination: -2 } }, 'federation_client.max_connections_per_destination'],
  ];
  for (const [name, raw, key, message] of cases) {
    const e = configError(() => parse(raw));
    t.equal(e.key, key, `${name}: key`);
    t.ok(e.message.startsWith(`${key}: `), `${name}: message starts with the key`);
    if (message) t.match(e.message, message, `${name}: message`);
  }
});

t.test('lenient where Synapse is', async (t) => {
  const c = parse({
    public_baseurl: 'http://localhost:8008/_matrix/',
    listeners: [{ port: 8008, tag: 'x', additional_resources: {}, request_id_header: 'X-Request-ID', bind_addresses: null }],
    federation_certificate_verification_whitelist: null,
    old_signing_keys: null,
    well_known_support: { support_page: 'https://example.org/help' },
    acme: { url: 'https://acme-v01.api.letsencrypt.org/directory', domain: 'example.org', reprovision_threshold: 10, bind_addresses: ['::'], account_key_file: '/data/acme.key' },
    trusted_key_servers: [{ server_name: 'matrix.org', verify_keys: { 'ed25519:auto': 'Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw=' } }],
  });
  t.equal(c.publicBaseurl, 'http://localhost:8008/_matrix/', 'already ends in /');
  t.same((c.listeners[0] as TcpListenerConfig).bindAddresses, ['::', '0.0.0.0'], 'null bind_addresses means the default');
  t.same(c.federationCertificateVerificationWhitelist, []);
  t.same(c.oldSigningKeys, {});
  t.strictSame(c.wellKnownSupport, { contacts: [], supportPage: 'https://example.org/help' });
  t.same(c.acme.domains, ['example.org'], 'legacy acme.domain');
  t.equal(c.acme.renewDaysBefore, 10, 'legacy acme.reprovision_threshold');
  t.equal(c.acme.directoryUrl, 'https://acme-v02.api.letsencrypt.org/directory', 'ACME v1 url is dropped');
  t.same(c.trustedKeyServers[0]?.verifyKeys, { 'ed25519:auto': 'Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw=' }, 'padded base64 is accepted');

  t.strictSame(
    parse({ well_known_support: { contacts: [{ role: 'm.role.admin', email_address: 'a@b.c' }] } }).wellKnownSupport,
    { contacts: [{ role: 'm.role.admin', emailAddress: 'a@b.c' }] },
    'support_page is optional when there are contacts',
  );

  const both = parse({ acme: { domain: 'old.example.org', domains: ['new.example.org'] } });
  t.same(both.acme.domains, ['new.example.org'], 'domains wins over the legacy domain');
});

t.test('IP ranges', async (t) => {
  t.same(parse({ ip_range_blacklist: [] }).ipRangeBlacklist, ALWAYS_BLOCKED, '0.0.0.0 and :: are always blocked, as in Synapse');
  t.same(parse({ ip_range_blacklist: ['0.0.0.0'] }).ipRangeBlacklist, ['0.0.0.0/32', '::/128'], 'no duplicates');
  const legacy = parse({
    ip_range_blacklist: ['10.0.0.0/8'],
    ip_range_whitelist: ['10.1.0.0/16'],
    federation_ip_range_blacklist: ['192.168.0.0/16'],
  });
  t.same(legacy.ipRangeBlacklist, ['192.168.0.0/16', ...ALWAYS_BLOCKED], 'federation_ip_range_blacklist replaces ip_range_blacklist');
  t.same(legacy.ipRangeWhitelist, [], '... and comes without a whitelist, as in Synapse');
  t.same(parse({ ip_range_blacklist: null }).ipRangeBlacklist, [...DEFAULT_IP_RANGE_BLACKLIST, ...ALWAYS_BLOCKED]);
  t.ok(Object.isFrozen(DEFAULT_IP_RANGE_BLACKLIST));

  // Every default range must be acceptable to net.BlockList, which tls-policy uses.
  const list = new BlockList();
  for (const r of [...DEFAULT_IP_RANGE_BLACKLIST, ...ALWAYS_BLOCKED]) {
    const c = parseCidr(r);
    t.ok(c, r);
    if (c) list.addSubnet(c.address, c.prefix, c.family);
  }
  t.ok(list.check('10.2.3.4', 'ipv4'));
  t.notOk(list.check('8.8.8.8', 'ipv4'));
});

t.test('address syntax helpers', async (t) => {
  t.same(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
  t.same(parseCidr('10.1.2.3/8'), { address: '10.1.2.3', prefix: 8, family: 'ipv4' }, 'host bits allowed, as in netaddr');
  t.same(parseCidr('::1'), { address: '::1', prefix: 128, family: 'ipv6' });
  t.same(parseCidr('::ffff:10.0.0.0/104'), { address: '::ffff:10.0.0.0', prefix: 104, family: 'ipv6' });
  for (const bad of ['', '/8', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/8/8', '10.0.0.0/-1', '10.0.0.0/ 8', 'fe80::/129', 'fe80::1%eth0/64', 'localhost', '10.0.0/8']) {
    t.equal(parseCidr(bad), undefined, `rejects ${JSON.stringify(bad)}`);
  }
  t.equal(formatCidr({ address: '::', prefix: 0, family: 'ipv6' }), '::/0');

  for (const good of ['1.1.1.1', '1.1.1.1:53', '1.1.1.1:65535', '::1', '2001:db8::53', '[::1]', '[::1]:5353']) {
    t.ok(isDnsServer(good), `accepts ${good}`);
  }
  for (const bad of ['', 'dns.example', '1.1.1.1:0', '1.1.1.1:65536', '1.1.1.1:', '[::1]:', '[1.1.1.1]', '[::1]:99999', '::1:53x', 'fe80::1%eth0']) {
    t.notOk(isDnsServer(bad), `rejects ${JSON.stringify(bad)}`);
  }
});

t.test('TLS listeners need a certificate source', async (t) => {
  const tls = { listeners: [{ port: 8008 }, { port: 8448, tls: true }] };
  t.throws(() => requireTlsSource(parse(tls)), {
    key: 'tls_certificate_path',
    message: /^tls_certificate_path: required because listeners\[1\] has "tls: true"/,
  });
  t.doesNotThrow(() => requireTlsSource(parse({ ...tls, tls_certificate_path: 'a.crt', tls_private_key_path: 'a.key' })));
  t.doesNotThrow(() => requireTlsSource(parse({ ...tls, tls_certificates: [{ certificate_path: 'a', private_key_path: 'b' }] })));
  t.doesNotThrow(() => requireTlsSource(parse({ ...tls, acme: { enabled: true } })));
  t.doesNotThrow(() => requireTlsSource(parse({ listeners: [{ port: 8008 }, { path: '/s', tls: true }] })), 'unix sockets never do TLS');

  const dir = t.testdir({ 'homeserver.yaml': 'server_name: example.org\nlisteners:\n  - port: 8448\n    tls: true\n' });
  await t.rejects(loadConfig(join(dir, 'homeserver.yaml'), { checkFiles: false }), { name: 'ConfigError', key: 'tls_certificate_path' }, 'loadConfig applies it');
});

t.test('defaultConfig: the embedded default', async (t) => {
  const c = defaultConfig({ baseDir: BASE });
  t.equal(c.serverName, 'localhost:8448');
  t.equal(c.sourcePath, undefined);
  t.equal(c.baseDir, BASE);
  t.equal(c.signingKeyPath, join(BASE, 'keys/signing.key'));
  t.equal(c.tlsCertificatePath, join(BASE, 'keys/localhost.crt'));
  t.equal(c.tlsPrivateKeyPath, join(BASE, 'keys/localhost.key'));
  t.strictSame(c.listeners, [
    {
      kind: 'tcp',
      port: 8448,
      bindAddresses: ['127.0.0.1'],
      tls: true,
      type: 'http',
      xForwarded: false,
      resources: [{ names: ['federation', 'keys'], compress: false }],
    },
  ]);
  t.same(c.ignoredKeys, []);
  t.same(c.trustedKeyServers, [], 'no notary unless asked');
  t.doesNotThrow(() => requireTlsSource(c));

  const o = defaultConfig({
    baseDir: BASE,
    serverName: 'peer.test',
    signingKeyPath: '/tmp/k.key',
    raw: { key_refresh_interval: '1h', listeners: [{ port: 8449, bind_addresses: ['127.0.0.2'] }] },
  });
  t.equal(o.serverName, 'peer.test');
  t.equal(o.signingKeyPath, '/tmp/k.key');
  t.equal(o.keyRefreshIntervalMs, 3_600_000);
  t.same((o.listeners[0] as TcpListenerConfig).bindAddresses, ['127.0.0.2']);
  t.throws(() => defaultConfig({ baseDir: BASE, serverName: 'not valid' }), { name: 'ConfigError', key: 'server_name' }, 'overrides are validated');

  // The embedded default is not shared state.
  const a = defaultConfig({ baseDir: BASE });
  (a.listeners[0] as TcpListenerConfig).bindAddresses.push('::1');
  t.same((defaultConfig({ baseDir: BASE }).listeners[0] as TcpListenerConfig).bindAddresses, ['127.0.0.1']);
});

t.test('ConfigError', async (t) => {
  const e = new ConfigError('a.b', 'broken', { cause: new Error('root') });
  t.ok(e instanceof Error);
  t.equal(e.name, 'ConfigError');
  t.equal(e.message, 'a.b: broken');
  t.equal(e.detail, 'broken');
  t.equal((e.cause as Error).message, 'root');
  t.equal(new ConfigError('', 'whole file').message, 'whole file');
});
