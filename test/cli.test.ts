import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import * as https from 'node:https';
import { main } from '../src/cli.js';
import type { CommandIO } from '../src/commands/io.js';
import { parseSigningKeys } from '../src/matrix/signing-key.js';
import { block } from './harness/addresses.js';
import { makeTestPki } from './harness/test-ca.js';

function io(stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  const handle: CommandIO = { stdout: (s) => out.push(s), stderr: (s) => err.push(s), readStdin: async () => stdin };
  return { handle, out: () => out.join(''), err: () => err.join('') };
}

const tmp = () => mkdtempSync(join(tmpdir(), 'fedpeer-cli-'));

t.test('help, version, unknown command, bad option', async (t) => {
  let c = io();
  t.equal(await main(['--help'], c.handle), 0);
  t.match(c.out(), /Usage: fedpeer COMMAND/);
  t.match(c.out(), /keygen/);
  c = io();
  t.equal(await main([], c.handle), 0);
  t.match(c.out(), /Usage/);
  c = io();
  t.equal(await main(['--version'], c.handle), 0);
  t.match(c.out(), /^\d+\.\d+\.\d+/);
  c = io();
  t.equal(await main(['frobnicate'], c.handle), 2);
  t.match(c.err(), /unknown command "frobnicate"/);
  c = io();
  t.equal(await main(['keygen', '--bogus'], c.handle), 2);
  t.match(c.err(), /unknown option --bogus\. keygen takes: --out PATH, --help/);
});

t.test('keygen writes a Synapse key with mode 0600 and refuses to overwrite', async (t) => {
  const dir = tmp();
  const path = join(dir, 'sub', 'my.key');
  let c = io();
  t.equal(await main(['keygen', '--out', path], c.handle), 0);
  t.equal(statSync(path).mode & 0o777, 0o600);
  const [key] = parseSigningKeys(readFileSync(path, 'utf8'), path);
  t.match(key!.version, /^a_[a-zA-Z]{4}$/);
  t.match(c.err(), new RegExp(`wrote ${key!.keyId}`));
  const before = readFileSync(path, 'utf8');
  c = io();
  t.equal(await main(['keygen', '--out', path], c.handle), 1);
  t.match(c.err(), /refusing to overwrite existing key file/);
  t.equal(readFileSync(path, 'utf8'), before, 'existing key untouched');
  c = io();
  t.equal(await main(['keygen'], c.handle), 0);
  t.match(c.out(), /^ed25519 a_[a-zA-Z]{4} [A-Za-z0-9+/]{43}\n$/);
});

t.test('canonical-json, sign-json, verify-json', async (t) => {
  const dir = tmp();
  const keyPath = join(dir, 'k.key');
  writeFileSync(keyPath, 'ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0\n');
  let c = io('{"b": 2, "a": [1, {"d": "é", "c": null}]}');
  t.equal(await main(['canonical-json'], c.handle), 0);
  t.equal(c.out(), '{"a":[1,{"c":null,"d":"é"}],"b":2}');
  c = io('{"one": 1, "two": "Two"}');
  t.equal(await main(['sign-json', '--key', keyPath, '--server-name', 'domain'], c.handle), 0);
  const signed = c.out();
  t.match(signed, /KqmLSbO39\/Bzb0QIYE82zqLwsA\+PDzYIpIRA2sRQ4sL53\+sN6\/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI\+6Bw/, 'the spec vector signature');
  const verifyArgs = ['verify-json', '--server-name', 'domain', '--key-id', 'ed25519:1', '--public-key', 'XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI'];
  c = io(signed);
  t.equal(await main(verifyArgs, c.handle), 0);
  t.match(c.out(), /^valid/);
  c = io(signed.replace('"Two"', '"Three"'));
  t.equal(await main(verifyArgs, c.handle), 1);
  t.match(c.err(), /invalid: signature ed25519:1 from domain does not verify/);

  const bad: Array<[string[], string, number, RegExp]> = [
    [['canonical-json'], '{nope', 1, /input is not valid JSON/],
    [['canonical-json'], '{"a": 1.5}', 1, /not an integer: 1.5 at \.a/],
    [['sign-json', '--key', keyPath, '--server-name', 'domain'], '[1]', 1, /input must be a JSON object/],
    [['sign-json', '--key', keyPath], '{}', 2, /sign-json needs --key FILE and --server-name NAME/],
    [['sign-json', '--key', join(dir, 'missing'), '--server-name', 'x'], '{}', 1, /cannot read .*missing: ENOENT/],
    [['verify-json', '--server-name', 'x'], '{}', 2, /verify-json needs/],
    [['verify-json', '--server-name', 'x', '--key-id', 'ed25519:1', '--public-key', 'AAAA'], '{}', 2, /--public-key: an Ed25519 public key is 32 bytes/],
  ];
  for (const [args, stdin, code, msg] of bad) {
    c = io(stdin);
    t.equal(await main(args, c.handle), code, args.join(' '));
    t.match(c.err(), msg);
  }
  writeFileSync(join(dir, 'bad.key'), 'ed25519 1\n');
  c = io('{}');
  t.equal(await main(['sign-json', '--key', join(dir, 'bad.key'), '--server-name', 'x'], c.handle), 1);
  t.match(c.err(), /bad\.key:1: expected "ed25519 <version> <base64 seed>"/);
});

t.test('serve: a missing or broken config stops start-up with a message naming the cause', async (t) => {
  const dir = tmp();
  let c = io();
  t.equal(await main(['serve', '--config', join(dir, 'nope.yaml')], c.handle), 1);
  t.match(c.err(), /config file not found/);
  writeFileSync(join(dir, 'bad.yaml'), 'server_name: example.test\nkey_refresh_interval: true\n');
  c = io();
  t.equal(await main(['serve', '--config', join(dir, 'bad.yaml')], c.handle), 1);
  t.match(c.err(), /key_refresh_interval/);
  writeFileSync(join(dir, 'nokey.yaml'), `server_name: example.test\nsigning_key_path: ${join(dir, 'absent.key')}\nlisteners: []\n`);
  c = io();
  t.equal(await main(['serve', '--config', join(dir, 'nokey.yaml')], c.handle), 1);
  t.match(c.err(), /signing_key_path/);
});

t.test('the built CLI serves the embedded defaults and exits 0 on SIGTERM', async (t) => {
  // Runs dist/cli.js, which `npm test` builds first.
  const dir = tmp();
  const address = block('server')(9, 1);
  const pki = await makeTestPki();
  const leaf = await pki.leaf([address]);
  writeFileSync(join(dir, 'tls.crt'), leaf.chainPem);
  writeFileSync(join(dir, 'tls.key'), leaf.keyPem);
  writeFileSync(
    join(dir, 'homeserver.yaml'),
    `server_name: cli.test
signing_key_path: signing.key
tls_certificate_path: tls.crt
tls_private_key_path: tls.key
pid_file: fedpeer.pid
listeners:
  - {port: 8448, bind_addresses: ['${address}'], tls: true, type: http, resources: [{names: [federation, keys]}]}
  - {port: 9000, type: manhole}
`,
  );
  t.equal(await main(['keygen', '--out', join(dir, 'signing.key')], io().handle), 0);
  const child = spawn(process.execPath, [new URL('../dist/cli.js', import.meta.url).pathname, 'serve', '--config', join(dir, 'homeserver.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      if (/fedpeer: serving cli.test on https:\/\//.test(stderr)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  t.teardown(() => clearTimeout(killer));
  await ready;
  const body = await new Promise<string>((resolve, reject) => {
    https.get({ host: address, port: 8448, path: '/_matrix/key/v2/server', ca: pki.root.certPem }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
  t.equal(JSON.parse(body).server_name, 'cli.test');
  t.equal(readFileSync(join(dir, 'fedpeer.pid'), 'utf8').trim(), String(child.pid));
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  t.equal(code, 0, 'exit 0 after SIGTERM');
  t.match(stdout, /"msg":"shutting down"/);
  t.match(stdout, /listener type \\"manhole\\" is not served/);
  t.match(stdout, /"msg":"request"/);
});

t.test('a log reader that stops reading does not stop the server', async (t) => {
  // stdout is a pipe nobody reads for a while, as with a stalled journald:
  // lines wait in memory and the server keeps answering; once the reader
  // comes back, every line arrives.
  const dir = tmp();
  const address = block('server')(9, 2);
  const pki = await makeTestPki();
  const leaf = await pki.leaf([address]);
  writeFileSync(join(dir, 'tls.crt'), leaf.chainPem);
  writeFileSync(join(dir, 'tls.key'), leaf.keyPem);
  writeFileSync(
    join(dir, 'homeserver.yaml'),
    `server_name: cli.test
signing_key_path: signing.key
tls_certificate_path: tls.crt
tls_private_key_path: tls.key
listeners:
  - {port: 8448, bind_addresses: ['${address}'], tls: true, type: http, resources: [{names: [federation, keys]}]}
`,
  );
  t.equal(await main(['keygen', '--out', join(dir, 'signing.key')], io().handle), 0);
  // Through env(1), without NODE_OPTIONS: tap adds its process hooks to every
  // node it spawns, and they touch process.stdout, which makes the pipe
  // non-blocking; the point here is the blocking pipe a service manager
  // hands over.
  const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, new URL('../dist/cli.js', import.meta.url).pathname, 'serve', '--config', join(dir, 'homeserver.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pause();
  let stderr = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      if (/fedpeer: serving cli.test on https:\/\//.test(stderr)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  t.teardown(() => clearTimeout(killer));
  await ready;
  const agent = new https.Agent({ keepAlive: true, maxSockets: 10 });
  t.teardown(() => agent.destroy());
  const get = () =>
    new Promise<number | string>((resolve) => {
      const req = https.get({ host: address, port: 8448, path: '/_matrix/key/v2/server', ca: pki.root.certPem, agent, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => resolve(e.message));
    });
  // 8,000 requests write ~1.2 MB of log lines, several times what the pipe
  // (a socket pair from spawn, with the kernel's buffers on both ends) holds.
  const REQUESTS = 8000;
  const started = Date.now();
  const statuses = new Map<number | string, number>();
  for (let i = 0; i < REQUESTS && Date.now() - started < 45_000; i += 10) {
    for (const s of await Promise.all(Array.from({ length: 10 }, get))) statuses.set(s, (statuses.get(s) ?? 0) + 1);
  }
  t.same([...statuses], [[200, REQUESTS]], 'every request answered while nobody reads the log');
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stdout.resume();
  const count = () => (stdout.match(/"msg":"request"/g) ?? []).length;
  for (let i = 0; i < 400 && count() < REQUESTS; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(count(), REQUESTS, 'every line arrives once the reader is back');
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  t.equal(code, 0);
});

t.test('generate-config writes a config that loads, and a key, and never overwrites', async (t) => {
  const { loadConfig } = await import('../src/config/load.js');
  const dir = tmp();
  const out = join(dir, 'etc', 'homeserver.yaml');
  let c = io();
  t.equal(await main(['generate-config', '--server-name', 'example.test', '--out', out], c.handle), 0);
  t.match(c.err(), /wrote .*homeserver.yaml and .*example.test.signing.key/);
  const keyPath = join(dir, 'etc', 'example.test.signing.key');
  t.equal(statSync(keyPath).mode & 0o777, 0o600);
  const config = await loadConfig(out, { checkFiles: false });
  t.equal(config.serverName, 'example.test');
  t.equal(config.signingKeyPath, keyPath);
  t.equal(config.listeners.length, 1);
  t.same(config.federationRoutes, []);
  // The commented routes example is valid as written once uncommented.
  const generated = readFileSync(out, 'utf8');
  const lines = generated.split('\n');
  const start = lines.indexOf('# federation_routes:');
  t.ok(start > 0, 'the template shows federation_routes');
  for (let i = start; i === start || lines[i]!.startsWith('#   '); i++) lines[i] = lines[i]!.slice(2);
  const routesExample = lines.join('\n');
  const routesPath = join(dir, 'etc', 'routes.yaml');
  writeFileSync(routesPath, routesExample);
  const routed = await loadConfig(routesPath, { checkFiles: false });
  t.equal(routed.federationRoutes.length, 1);
  t.match(routed.federationRoutes[0], { trust: 'none', isolate: true });
  const key = readFileSync(keyPath, 'utf8');
  c = io();
  t.equal(await main(['generate-config', '--server-name', 'example.test', '--out', out], c.handle), 1);
  t.match(c.err(), /refusing to overwrite existing signing key/);
  t.equal(readFileSync(keyPath, 'utf8'), key);
  // Key gone but config present: the config is kept and the new key removed again.
  const { rmSync } = await import('node:fs');
  rmSync(keyPath);
  c = io();
  t.equal(await main(['generate-config', '--server-name', 'example.test', '--out', out], c.handle), 1);
  t.match(c.err(), /refusing to overwrite existing config/);
  t.throws(() => statSync(keyPath), /ENOENT/);
  c = io();
  t.equal(await main(['generate-config'], c.handle), 2);
  t.match(c.err(), /needs --server-name/);
  c = io();
  t.equal(await main(['generate-config', '--server-name', 'bad name'], c.handle), 2);
  t.match(c.err(), /--server-name: invalid server name/);
});

t.test('config check prints what would be served, binds nothing', async (t) => {
  const pki = await makeTestPki();
  const dir = tmp();
  const main1 = await pki.leaf(['example.test']);
  const hs = await pki.leaf(['hs.example.test']);
  writeFileSync(join(dir, 'a.crt'), main1.chainPem);
  writeFileSync(join(dir, 'a.key'), main1.keyPem);
  writeFileSync(join(dir, 'hs.crt'), hs.chainPem);
  writeFileSync(join(dir, 'hs.key'), hs.keyPem);
  t.equal(await main(['keygen', '--out', join(dir, 'signing.key')], io().handle), 0);
  const yaml = (extra = '') => `server_name: example.test
signing_key_path: signing.key
tls_certificate_path: a.crt
tls_private_key_path: a.key
tls_certificates: [{certificate_path: hs.crt, private_key_path: hs.key}]
public_baseurl: https://hs.example.test/
serve_server_wellknown: true
report_stats: false
listeners:
  - {port: 8448, bind_addresses: ['127.3.50.1'], tls: true, type: http, resources: [{names: [federation, keys]}]}
  - {port: 9000, type: manhole}
  - {port: 9100, bind_addresses: ['127.3.50.1'], type: metrics}
${extra}`;
  writeFileSync(join(dir, 'ok.yaml'), yaml());
  let c = io();
  t.equal(await main(['config', 'check', join(dir, 'ok.yaml')], c.handle), 0, c.err());
  const out = c.out();
  t.match(out, /: OK/);
  t.match(out, /\* example\.test {2}until .* days\)/);
  t.match(out, /hs\.example\.test {2}until/);
  t.match(out, /\/\.well-known\/matrix\/server {2}\{"m\.server":"example\.test:443"\}/);
  t.match(out, /\/\.well-known\/matrix\/client {2}\{"m\.homeserver":\{"base_url":"https:\/\/hs\.example\.test\/"\}\}/);
  t.match(out, /https 127\.3\.50\.1:8448 {2}federation, keys/);
  t.match(out, /skipped: type manhole/);
  t.match(out, /http  127\.3\.50\.1:9100  metrics \(\/metrics\)/);
  t.match(out, /keys fedpeer does not use: report_stats/);
  c = io();
  t.equal(await main(['config', 'check', '--json', join(dir, 'ok.yaml')], c.handle), 0);
  const j = JSON.parse(c.out());
  t.equal(j.certificates.length, 2);
  t.same(j.warnings, []);
  // A certificate that expired: an error naming the key.
  const expired = await pki.leaf(['example.test'], { expired: true });
  writeFileSync(join(dir, 'old.crt'), expired.chainPem);
  writeFileSync(join(dir, 'old.key'), expired.keyPem);
  writeFileSync(join(dir, 'bad.yaml'), yaml().replace('a.crt', 'old.crt').replace('a.key', 'old.key'));
  c = io();
  t.equal(await main(['config', 'check', join(dir, 'bad.yaml')], c.handle), 1);
  t.match(c.out(), /error: tls_certificate_path: .*expired/i);
  c = io();
  t.equal(await main(['config', 'nope'], c.handle), 2);
  t.match(c.err(), /unknown config subcommand/);
  c = io();
  t.equal(await main(['config', 'check', join(dir, 'missing.yaml')], c.handle), 1);
  t.match(c.out(), /error: config file not found/);
});
