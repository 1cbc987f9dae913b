// ACME: the `type: acme` listener, and issuance end to end against pebble
// with real HTTP-01 validation on loopback. Block 127.13:
//   127.13.0.1   pebble (ACME 14000, management 15000)
//   127.13.0.53  the test DNS server pebble resolves names with
//   127.13.1.1   fedpeer (TLS 8448, HTTP-01 on 5002, pebble's httpPort)
//   127.13.2.x   fedpeer without pebble
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import { block } from './harness/addresses.js';
import { makeTestPki } from './harness/test-ca.js';
import { captureLogger } from './harness/server-fixture.js';
import { requireTool } from './harness/tools.js';
import { startDnsServer } from './harness/dns-server.js';
import { startPebble } from './harness/pebble.js';
import { probeTls, eventually } from './harness/tls-probe.js';
import { defaultConfig, loadConfig } from '../src/config/load.js';
import { startServer, serveCommand } from '../src/commands/serve.js';
import { acmeRenewCommand } from '../src/commands/acme.js';
import { main } from '../src/cli.js';
import { effectiveListeners } from '../src/server/listeners.js';
import { acmeDomains } from '../src/acme/manager.js';
import { createChallengeStore } from '../src/acme/challenge-store.js';
import { formatSigningKeys, generateSigningKey } from '../src/matrix/signing-key.js';

const addr = block('acme');
const FEDPEER = addr(1, 1);
const HTTP01_PORT = 5002;

const dirs: string[] = [];
t.teardown(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-acme-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'signing.key'), formatSigningKeys([generateSigningKey()]), { mode: 0o600 });
  return dir;
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s), readStdin: async () => '' },
    out: () => out.join('\n'),
    err: () => err.join('\n'),
  };
}

/** One plain HTTP request with the Host header as given (or none at all). */
function httpRaw(host: string, port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => socket.write(request));
    let text = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (d) => (text += d));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

function httpGet(host: string, port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path, method, headers, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

t.test('the acme listener answers HTTP-01 from the store and the webroot, and sends everything else to https', async (t) => {
  const dir = tempDir();
  const host = addr(2, 1);
  const config = defaultConfig({
    baseDir: dir,
    raw: {
      server_name: 'example.test:8448',
      signing_key_path: 'signing.key',
      // No certificate at all: this server has no TLS listener.
      tls_certificate_path: undefined,
      tls_private_key_path: undefined,
      // tls on an acme listener is ignored: HTTP-01 is plain HTTP.
      listeners: [{ port: 8080, bind_addresses: [host], type: 'acme', tls: true }],
      acme: { webroot: 'www' },
    },
  });
  const log = captureLogger();
  const server = await startServer(config, { logger: log.logger });
  t.teardown(() => server.close(500));
  t.equal(server.listeners.bound[0]?.tls, false, 'plain HTTP');

  await server.challenges.set('tok_A-1', 'tok_A-1.thumbprint');
  const fromStore = await httpGet(host, 8080, '/.well-known/acme-challenge/tok_A-1');
  t.equal(fromStore.status, 200);
  t.equal(fromStore.body, 'tok_A-1.thumbprint');
  t.equal(fromStore.headers['content-type'], 'application/octet-stream');
  t.equal(readFileSync(join(dir, 'www/.well-known/acme-challenge/tok_A-1'), 'utf8'), 'tok_A-1.thumbprint', 'also written under the webroot');
  await server.challenges.delete('tok_A-1');
  t.notOk(existsSync(join(dir, 'www/.well-known/acme-challenge/tok_A-1')), 'and removed from it');
  t.equal((await httpGet(host, 8080, '/.well-known/acme-challenge/tok_A-1')).status, 404, 'gone once deleted');

  // What certbot --webroot or OpenBSD's acme-client leave behind.
  writeFileSync(join(dir, 'www/.well-known/acme-challenge/external_tok'), 'external_tok.thumb\n');
  const external = await httpGet(host, 8080, '/.well-known/acme-challenge/external_tok');
  t.equal(external.body, 'external_tok.thumb', 'webroot file, trailing newline trimmed');

  const missing = await httpGet(host, 8080, '/.well-known/acme-challenge/nothing');
  t.equal(missing.status, 404);
  t.equal(JSON.parse(missing.body).errcode, 'M_NOT_FOUND');
  writeFileSync(join(dir, 'www/secret'), 'secret');
  for (const bad of ['a.b', '%2e%2e%2fsecret', '..%2f..%2fsecret']) {
    const r = await httpGet(host, 8080, `/.well-known/acme-challenge/${bad}`);
    t.equal(r.status, 404, `token ${bad} refused`);
  }
  await t.rejects(createChallengeStore({ webroot: join(dir, 'www') }).set('../x', 'y'), /invalid challenge token/, 'a hostile token never becomes a path');
  t.equal((await httpGet(host, 8080, '/.well-known/acme-challenge/x', 'POST')).status, 405);

  const redirect = await httpGet(host, 8080, '/_matrix/key/v2/server?x=1', 'GET', { host: 'hs.example.test:8080' });
  t.equal(redirect.status, 308);
  t.equal(redirect.headers.location, 'https://hs.example.test/_matrix/key/v2/server?x=1', 'same path on https, port 443');
  t.equal((await httpGet(host, 8080, '/', 'POST', { host: 'hs.example.test' })).headers.location, 'https://hs.example.test/', 'every method');
  const noHost = await httpRaw(host, 8080, 'GET /page HTTP/1.0\r\n\r\n');
  t.match(noHost, /^HTTP\/1\.1 308/);
  t.match(noHost, /location: https:\/\/example\.test\/page/i, 'no Host header: the server_name host');
});

t.test('ACME configuration: domains, the legacy listener, never over operator files', async (t) => {
  const cfg = (raw: Record<string, unknown>) => defaultConfig({ baseDir: '/tmp', raw: { server_name: 'example.test', listeners: [], ...raw } });
  t.same(acmeDomains(cfg({ public_baseurl: 'https://hs.example.test:8443/' })), ['example.test', 'hs.example.test'], 'server_name and public_baseurl hosts');
  t.same(acmeDomains(cfg({ server_name: '192.0.2.1:8448', public_baseurl: 'https://[2001:db8::1]/' })), [], 'IP addresses cannot be validated by HTTP-01');
  t.same(acmeDomains(cfg({ acme: { domains: ['A.example.test', 'a.example.test'] } })), ['a.example.test'], 'explicit list, deduplicated');
  const listeners = effectiveListeners(cfg({ acme: { enabled: true, port: 8081, bind_addresses: [addr(2, 2)] } }));
  t.match(listeners.at(-1), { type: 'acme', port: 8081, bindAddresses: [addr(2, 2)], tls: false }, "Synapse's acme.port listener");
  t.match(effectiveListeners(cfg({ acme: { enabled: true, port: 8081 } })).at(-1), { bindAddresses: ['::', '0.0.0.0'] }, 'on all addresses by default');
  t.equal(effectiveListeners(cfg({ acme: { port: 8081 } })).length, 0, 'only with acme enabled');
  t.equal(effectiveListeners(cfg({ acme: { enabled: true, port: 8081 }, listeners: [{ port: 80, type: 'acme' }] })).length, 1, 'not when a type: acme listener exists');

  const dir = tempDir();
  const pki = await makeTestPki();
  const leaf = await pki.leaf(['example.test']);
  mkdirSync(join(dir, 'acme'));
  writeFileSync(join(dir, 'acme/example.test.crt'), leaf.certPem);
  writeFileSync(join(dir, 'acme/example.test.key'), leaf.keyPem);
  const config = defaultConfig({
    baseDir: dir,
    raw: {
      server_name: 'example.test',
      signing_key_path: 'signing.key',
      tls_certificate_path: 'acme/example.test.crt',
      tls_private_key_path: 'acme/example.test.key',
      listeners: [],
      acme: { enabled: true, storage_dir: 'acme' },
    },
  });
  await t.rejects(startServer(config, { logger: captureLogger().logger }), { message: /acme\.storage_dir: .*example\.test\.crt, which tls_certificate_path names.*never overwrites/ });
  t.equal(readFileSync(join(dir, 'acme/example.test.crt'), 'utf8'), leaf.certPem, 'the operator file is untouched');
  const noDomain = defaultConfig({ baseDir: dir, raw: { server_name: '192.0.2.1', signing_key_path: 'signing.key', listeners: [], acme: { enabled: true } } });
  await t.rejects(startServer(noDomain, { logger: captureLogger().logger }), { message: /acme\.domains: none given and none derivable/ });
});

t.test('fedpeer acme renew: usage and configuration errors', async (t) => {
  const c1 = capture();
  t.equal(await main(['acme'], c1.io), 2);
  t.match(c1.err(), /acme needs a subcommand: fedpeer acme renew/);
  const c2 = capture();
  t.equal(await main(['acme', 'renew'], c2.io), 2);
  t.match(c2.err(), /needs --config FILE/);
  const dir = tempDir();
  writeFileSync(join(dir, 'off.yaml'), 'server_name: example.test\nsigning_key_path: signing.key\n');
  const c3 = capture();
  t.equal(await main(['acme', 'renew', '--config', join(dir, 'off.yaml')], c3.io), 1);
  t.match(c3.err(), /acme\.enabled is not true in .*off\.yaml/);
  writeFileSync(join(dir, 'nolistener.yaml'), 'server_name: example.test\nsigning_key_path: signing.key\nacme: {enabled: true}\n');
  const c4 = capture();
  t.equal(await main(['acme', 'renew', '--config', join(dir, 'nolistener.yaml')], c4.io), 1);
  t.match(c4.err(), /nolistener\.yaml: nothing can answer HTTP-01 challenges: add a listener with "type: acme"/);
});

t.test('issuance against pebble with real HTTP-01 validation', async (t) => {
  if (!requireTool(t, 'pebble')) return;
  const pki = await makeTestPki();
  const dns = await startDnsServer({ address: addr(0, 53) });
  t.teardown(() => dns.close());
  dns.set('example.test', 'A', FEDPEER);
  dns.set('hs.example.test', 'A', FEDPEER);
  const pebble = await startPebble({ address: addr(0, 1), dnsServer: dns.hostPort, httpPort: HTTP01_PORT });
  t.teardown(() => pebble.close());
  const pebbleRoot = await pebble.rootPem();
  t.match(pebbleRoot, /BEGIN CERTIFICATE/, "pebble's root fetched from its management interface");
  const dir = tempDir();
  writeFileSync(join(dir, 'test-root.pem'), pki.root.certPem);
  const common = [
    'server_name: example.test',
    'public_baseurl: https://hs.example.test/',
    'signing_key_path: signing.key',
  ];
  const acmeSection = (storage: string, extra: string[] = []) => [
    'acme:',
    '  enabled: true',
    `  directory_url: ${pebble.directoryUrl}`,
    '  ca_certificate_path: test-root.pem',
    '  account_email: admin@example.test',
    `  storage_dir: ${storage}`,
    ...extra.map((l) => `  ${l}`),
  ];
  const tlsListener = `  - {port: 8448, bind_addresses: ['${FEDPEER}'], tls: true, type: http, resources: [{names: [federation]}]}`;
  const acmeListener = `  - {port: ${HTTP01_PORT}, bind_addresses: ['${FEDPEER}'], type: acme}`;
  const write = (name: string, lines: string[]) => {
    writeFileSync(join(dir, name), `${lines.join('\n')}\n`);
    return join(dir, name);
  };
  const verifiesWithPebble = async (servername: string) => {
    const p = await probeTls({ host: FEDPEER, port: 8448, ca: pebbleRoot, servername });
    return p.authorized ? p : undefined;
  };
  const timing = { pollMs: 100, retryBaseMs: 300 };

  await t.test('the command obtains both names when no server runs, binding the acme listener itself', async (t) => {
    const cfg = write('one.yaml', [...common, 'listeners:', acmeListener, ...acmeSection('acme-one')]);
    const c = capture();
    const code = await acmeRenewCommand(c.io, { config: cfg, logger: captureLogger().logger, timing });
    t.equal(code, 0, c.out() + pebble.output().slice(-2000));
    t.match(c.out(), /^example\.test: issued \(valid until \d{4}-.*\), .*acme-one\/example\.test\.crt$/m);
    t.match(c.out(), /^hs\.example\.test: issued/m);
    t.match(c.out(), /no pid_file configured: send SIGHUP/);
    for (const file of ['account.key', 'example.test.key', 'hs.example.test.key']) {
      t.equal(statSync(join(dir, 'acme-one', file)).mode & 0o777, 0o600, `${file} is 0600`);
    }
    t.equal(statSync(join(dir, 'acme-one')).mode & 0o777, 0o700, 'storage_dir is 0700');
    // The stored chain verifies up to pebble's root, each for its own name.
    const root = new X509Certificate(pebbleRoot);
    for (const domain of ['example.test', 'hs.example.test']) {
      const pems = readFileSync(join(dir, 'acme-one', `${domain}.crt`), 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!;
      const [leaf, intermediate] = pems.map((p) => new X509Certificate(p));
      t.ok(leaf!.checkHost(domain) && leaf!.verify(intermediate!.publicKey) && intermediate!.verify(root.publicKey), `${domain}: chain verifies to pebble's root`);
      t.equal(leaf!.subjectAltName, `DNS:${domain}`, `${domain}: a certificate of its own`);
    }
    const again = capture();
    t.equal(await acmeRenewCommand(again.io, { config: cfg, logger: captureLogger().logger, timing }), 0);
    t.match(again.out(), /^example\.test: current \(valid until/m, 'nothing due: nothing requested');
    t.notMatch(again.out(), /SIGHUP/);
  });

  await t.test('the server starts on a placeholder, obtains certificates, retries a failed name, and installs them by SNI', async (t) => {
    dns.setBehaviour('hs.example.test', 'nxdomain');
    // Synapse's legacy form of the HTTP-01 listener: acme.port and acme.bind_addresses.
    const cfg = await loadConfig(write('two.yaml', [...common, 'listeners:', tlsListener, ...acmeSection('acme-two', [`port: ${HTTP01_PORT}`, `bind_addresses: ['${FEDPEER}']`])]));
    const log = captureLogger();
    const server = await startServer(cfg, { logger: log.logger, acmeTiming: timing });
    t.teardown(() => server.close(500));
    t.ok(log.lines().some((l) => l.level === 40 && /self-signed placeholder/.test(String(l.msg))), 'placeholder announced');
    t.match((await probeTls({ host: FEDPEER, port: 8448, ca: pebbleRoot, servername: 'example.test' })).issuer, /placeholder/, 'the placeholder answers meanwhile');
    // A reload before ACME has stored anything finds no file and keeps the placeholder.
    await server.reloadCertificates();
    t.ok(log.lines().some((l) => /no certificate could be loaded; the current ones stay/.test(String(l.msg))), 'reload with nothing to load keeps what is served');

    // While it runs, the command cannot bind the HTTP-01 port and says why.
    const busy = capture();
    t.equal(await main(['acme', 'renew', '--config', join(dir, 'one.yaml')], busy.io), 1);
    t.match(busy.err(), /cannot listen on .*5002.*Is "fedpeer serve" running\?/);

    t.ok(await eventually(async () => (await verifiesWithPebble('example.test')) !== undefined, { withinMs: 60_000, everyMs: 200 }), 'example.test now verifies against pebble\'s root');
    t.ok(await eventually(() => log.lines().some((l) => l.level === 50 && l.domain === 'hs.example.test'), { withinMs: 30_000 }), 'the failure is logged for the name that failed');
    t.ok(await eventually(() => log.lines().filter((l) => /round failed; retrying/.test(String(l.msg))).length >= 2, { withinMs: 30_000 }), 'failed rounds are retried');
    const retries = log.lines().filter((l) => /round failed; retrying/.test(String(l.msg))).map((l) => l.retryInMs as number);
    t.ok(retries[1]! > retries[0]!, `with a growing delay (${retries.slice(0, 3).join(', ')} ms)`);

    dns.setBehaviour('hs.example.test', 'normal');
    t.ok(await eventually(async () => (await verifiesWithPebble('hs.example.test')) !== undefined, { withinMs: 60_000, everyMs: 200 }), 'hs.example.test issued on a retry');
    const plain = await verifiesWithPebble('example.test');
    const hs = await verifiesWithPebble('hs.example.test');
    t.equal(plain?.san, 'DNS:example.test');
    t.equal(hs?.san, 'DNS:hs.example.test', 'each name gets its own certificate by SNI');
    t.equal((await probeTls({ host: FEDPEER, port: 8448, ca: pebbleRoot })).fingerprint, plain?.fingerprint, 'no SNI: the first domain\'s certificate');
    t.same((await server.acme!.renew()).map((r) => r.status), ['current', 'current'], 'nothing due afterwards');
  });

  await t.test('acme renew --force beside a running server: answers through the webroot, then SIGHUP installs', async (t) => {
    const cfgPath = write('three.yaml', [...common, 'pid_file: fedpeer.pid', 'listeners:', tlsListener, acmeListener, ...acmeSection('acme-one', ['webroot: www'])]);
    mkdirSync(join(dir, 'www'), { recursive: true });
    const log = captureLogger();
    const hupBefore = process.listenerCount('SIGHUP');
    const server = await serveCommand({ config: cfgPath, logger: log.logger, io: capture().io, watchCertificates: false });
    t.teardown(() => server.close(500));
    t.ok(process.listenerCount('SIGHUP') > hupBefore, 'serve handles SIGHUP');
    const before = await verifiesWithPebble('example.test');
    t.ok(before, 'the certificates the command stored earlier are served from the start');

    const c = capture();
    const code = await acmeRenewCommand(c.io, { config: cfgPath, force: true, logger: captureLogger().logger, timing });
    t.equal(code, 0, c.out());
    t.match(c.out(), /^example\.test: issued/m);
    t.match(c.out(), new RegExp(`sent SIGHUP to fedpeer \\(pid ${process.pid}`));
    t.ok(
      await eventually(async () => {
        const now = await verifiesWithPebble('example.test');
        return now !== undefined && now.fingerprint !== before?.fingerprint;
      }, { withinMs: 10_000 }),
      'the reissued certificate is served after the signal',
    );
    t.ok(log.lines().some((l) => l.msg === 'certificates reloaded'));
  });
});
