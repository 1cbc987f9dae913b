// `fedpeer serve` without a config: a development peer under any name, on
// any address and port, with a certificate from the development CA for the
// names it serves; `fedpeer dev-cert` issues more from the same CA; two
// development peers federate with each other.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli.js';
import { serveCommand, type RunningServer } from '../src/commands/serve.js';
import { devFileStem, ensureDevFiles } from '../src/server/dev-files.js';
import { issueCertificate } from '../src/server/dev-ca.js';
import { block } from './harness/addresses.js';
import { captureLogger } from './harness/server-fixture.js';
import { captureIO } from './harness/cli-io.js';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const addr = block('serve-dev');
const tmp = () => mkdtempSync(join(tmpdir(), 'fedpeer-serve-dev-'));


function get(host: string, port: number, path: string, ca: string, servername?: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; cert: X509Certificate }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(
      { host, port, path, ca, method: data ? 'POST' : 'GET', ...(servername ? { servername } : {}), headers: data ? { 'content-type': 'application/json' } : {} },
      (res) => {
        let b = '';
        const cert = new X509Certificate((res.socket as import('node:tls').TLSSocket).getPeerCertificate().raw);
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(b), cert }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const running: RunningServer[] = [];
t.teardown(async () => {
  for (const s of running) await s.close(0);
});

async function devServe(keysDir: string, dev: Parameters<typeof serveCommand>[0]['dev']) {
  const c = captureIO();
  const server = await serveCommand({ keysDir, dev, logger: captureLogger('warn').logger, io: c.io, watchCertificates: false });
  running.push(server);
  const bound = server.listeners.bound[0]!.address as import('node:net').AddressInfo;
  return { server, port: bound.port, text: c.err() };
}

t.test('the built CLI: a peer under any name on a free port, printed with the port it got', async (t) => {
  const keys = join(tmp(), 'keys');
  const child = spawn(process.execPath, [CLI, 'serve', '--server-name', 'fed.test', '--bind', addr(0, 1), '--port', '0', '--keys-dir', keys, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      if (/fedpeer: serving fed\.test on https:\/\//.test(stderr)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  t.teardown(() => clearTimeout(killer));
  await ready;
  const port = Number(/on https:\/\/127\.91\.0\.1:(\d+)\n/.exec(stderr)?.[1]);
  t.ok(port > 0, `printed the port it got: ${stderr}`);
  t.match(stderr, new RegExp(`try: curl --cacert \\S*dev-ca\\.crt --resolve fed\\.test:${port}:127\\.91\\.0\\.1 https://fed\\.test:${port}/_matrix/key/v2/server`));
  t.match(stderr, /certificate \S*fed\.test\.crt for fed\.test, localhost, 127\.0\.0\.1, ::1, 127\.91\.0\.1 from the dev CA/);
  const ca = readFileSync(join(keys, 'dev-ca.crt'), 'utf8');
  const r = await get(addr(0, 1), port, '/_matrix/key/v2/server', ca, 'fed.test');
  t.equal(r.json.server_name, 'fed.test');
  t.equal(r.cert.checkHost('fed.test'), 'fed.test');
  t.equal(r.cert.checkIP(addr(0, 1)), addr(0, 1));
  t.ok(existsSync(join(keys, 'fed.test.signing.key')), 'a signing key of its own');
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  t.equal(code, 0);
});

t.test('defaults: localhost:PORT with the port picked before the name is made', async (t) => {
  const keys = join(tmp(), 'keys');
  const { port, text } = await devServe(keys, { bind: addr(0, 2), port: 0 });
  t.not(port, 8448);
  t.match(text, new RegExp(`serving a development peer: server_name localhost:${port} on https://127\\.91\\.0\\.2:${port}\\n`));
  t.match(text, new RegExp(`try: curl --cacert keys/dev-ca\\.crt https://localhost:${port}/_matrix/key/v2/server|try: curl --cacert \\S+ https://localhost:${port}/`));
  t.match(text, new RegExp(`fedpeer check localhost:${port} --allow-private --ca-file \\S+dev-ca\\.crt\\n|fedpeer check localhost:${port} --allow-private --ca-file \\S+dev-ca\\.crt$`));
  const r = await get(addr(0, 2), port, '/_matrix/key/v2/server', readFileSync(join(keys, 'dev-ca.crt'), 'utf8'), 'localhost');
  t.equal(r.json.server_name, `localhost:${port}`);
  t.ok(existsSync(join(keys, 'signing.key')) && existsSync(join(keys, 'localhost.crt')), 'the embedded defaults\' file names');
});

t.test('an IP address as the server name, and two development peers federating', async (t) => {
  const keys = join(tmp(), 'keys');
  const a = await devServe(keys, { serverName: `${addr(1, 1)}:8448`, bind: addr(1, 1), allowPrivate: true });
  const b = await devServe(keys, { serverName: `${addr(1, 2)}:8448`, bind: addr(1, 2), allowPrivate: true });
  t.equal(a.port, 8448, "the server name's port");
  t.match(a.text, new RegExp(`try: curl --cacert \\S+ https://127\\.91\\.1\\.1:8448/`), 'no --resolve for an address');
  const ca = readFileSync(join(keys, 'dev-ca.crt'), 'utf8');
  // B, as a notary, fetches A's keys: over TLS with the dev CA, to a loopback address.
  const r = await get(addr(1, 2), 8448, '/_matrix/key/v2/query', ca, undefined, { server_keys: { [`${addr(1, 1)}:8448`]: {} } });
  t.equal(r.status, 200);
  const keysOfA = (r.json.server_keys as Array<Record<string, unknown>>)[0]!;
  t.equal(keysOfA.server_name, `${addr(1, 1)}:8448`);
  t.ok((keysOfA.signatures as Record<string, unknown>)[`${addr(1, 2)}:8448`], 'B vouched for them');
  // And the CLI checks A as a newcomer would, with the printed command.
  const c = captureIO();
  t.equal(await main(['check', `${addr(1, 1)}:8448`, '--allow-private', '--ca-file', join(keys, 'dev-ca.crt')], c.io), 0, c.out());
  t.match(c.out(), /: OK/);
  await b.server.close(0);
});

t.test('serve usage errors', async (t) => {
  const keys = join(tmp(), 'keys');
  const cases: Array<[string[], RegExp]> = [
    [['serve', '--config', 'x.yaml', '--server-name', 'a.test'], /--server-name makes a development peer without a config; with --config, set server_name, listeners and ip_range_whitelist in x\.yaml/],
    [['serve', '--config', 'x.yaml', '--allow-private'], /--allow-private makes a development peer/],
    [['serve', '--port', 'eighty', '--keys-dir', keys], /--port: expected 0 \(any free port\) or 1-65535, got "eighty"/],
    [['serve', '--port', '70000', '--keys-dir', keys], /--port: expected 0 \(any free port\) or 1-65535, got 70000/],
    [['serve', '--bind', 'localhost', '--keys-dir', keys], /--bind: expected an IP address such as 127\.0\.0\.1/],
    [['serve', '--server-name', 'bad name', '--keys-dir', keys], /--server-name: invalid server name "bad name"/],
  ];
  for (const [args, message] of cases) {
    const c = captureIO();
    t.equal(await main(args, c.io), 2, args.join(' '));
    t.match(c.err(), message);
  }
});

t.test('dev-cert: more certificates from the same CA', async (t) => {
  const dir = tmp();
  const keys = join(dir, 'keys');
  let c = captureIO();
  t.equal(await main(['dev-cert', 'synapse.test', addr(2, 1), '[::1]', '--keys-dir', keys], c.io), 0, c.err());
  t.match(c.out(), /wrote \S*synapse\.test\.crt and \S*synapse\.test\.key for synapse\.test, 127\.91\.2\.1, ::1, valid until/);
  t.match(c.out(), /development CA \S*dev-ca\.crt \(created now\)/);
  const ca = new X509Certificate(readFileSync(join(keys, 'dev-ca.crt')));
  const cert = new X509Certificate(readFileSync(join(keys, 'synapse.test.crt')));
  t.ok(cert.verify(ca.publicKey), 'signed by the dev CA');
  t.equal(cert.checkIP('::1'), '::1');
  c = captureIO();
  t.equal(await main(['dev-cert', 'synapse.test', '--keys-dir', keys], c.io), 1);
  t.match(c.err(), /refusing to overwrite .*synapse\.test\.crt; give --force to replace it/);
  c = captureIO();
  t.equal(await main(['dev-cert', 'synapse.test', '--keys-dir', keys, '--force'], c.io), 0);
  t.notMatch(c.out(), /created now/, 'the same CA');
  t.not(readFileSync(join(keys, 'synapse.test.crt'), 'utf8'), cert.toString(), 'replaced');
  for (const bad of ['synapse.test:8448', 'https://x.test', 'a b']) {
    c = captureIO();
    t.equal(await main(['dev-cert', bad, '--keys-dir', keys], c.io), 2, bad);
    t.match(c.err(), /not a DNS name or IP address/);
  }
  c = captureIO();
  t.equal(await main(['dev-cert', '--keys-dir', keys], c.io), 2);
  t.match(c.err(), /dev-cert needs at least one NAME/);
});

t.test('ensureDevFiles reissues a certificate that no longer covers the names or is about to expire', async (t) => {
  const keys = join(tmp(), 'keys');
  const first = await ensureDevFiles(keys);
  t.same(first.created.map((f) => f.slice(keys.length + 1)), ['dev-ca.crt', 'dev-ca.key', 'signing.key', 'localhost.crt', 'localhost.key']);
  t.same((await ensureDevFiles(keys)).created, [], 'reused');
  const wider = await ensureDevFiles(keys, { names: { dnsNames: ['localhost', 'x.test'], ipAddresses: ['127.0.0.1'] } });
  t.same(wider.created.map((f) => f.slice(keys.length + 1)), ['localhost.crt', 'localhost.key'], 'a new name: reissued');
  const later = await ensureDevFiles(keys, { names: { dnsNames: ['localhost', 'x.test'], ipAddresses: ['127.0.0.1'] }, now: () => Date.now() + 397 * 86_400_000 });
  t.equal(later.created.length, 2, 'expiring: reissued');
  // A certificate that covers the names but came from elsewhere is kept only while the CA is the same.
  const ca = { certPem: readFileSync(join(keys, 'dev-ca.crt'), 'utf8'), keyPem: readFileSync(join(keys, 'dev-ca.key'), 'utf8') };
  const leaf = await issueCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
  writeFileSync(join(keys, 'localhost.crt'), leaf.certPem);
  writeFileSync(join(keys, 'localhost.key'), leaf.keyPem);
  t.same((await ensureDevFiles(keys)).created, []);
  t.equal(devFileStem('fed.test:8448'), 'fed.test_8448');
  t.equal(devFileStem('[::1]:8448'), '___1__8448');
});

t.test('a port that is taken, an address the machine does not have: one sentence each', async (t) => {
  const keys = join(tmp(), 'keys');
  await devServe(keys, { bind: addr(4, 1), port: 8448 });
  let c = captureIO();
  t.equal(await main(['serve', '--bind', addr(4, 1), '--keys-dir', keys], c.io), 1);
  t.match(c.err(), /^fedpeer serve: cannot listen on 127\.91\.4\.1:8448: another process already listens there \(a second fedpeer\?\); stop it, or choose another port/);
  c = captureIO();
  t.equal(await main(['serve', '--bind', '192.0.2.1', '--keys-dir', keys], c.io), 1);
  t.match(c.err(), /cannot listen on 192\.0\.2\.1:8448: this machine has no such address/);
  const { listenProblem } = await import('../src/server/listeners.js');
  t.match(listenProblem(Object.assign(new Error('x'), { code: 'EACCES' })), /ports below 1024 need root/);
  t.equal(listenProblem(Object.assign(new Error('other'), { code: 'EOTHER' })), 'other');
});

t.test('dev-cert without --keys-dir: keys/ under the current directory', async (t) => {
  const dir = tmp();
  const r = spawnSync(process.execPath, [CLI, 'dev-cert', 'here.test'], { cwd: dir, encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^wrote keys\/here\.test\.crt and keys\/here\.test\.key for here\.test/);
  t.ok(existsSync(join(dir, 'keys', 'dev-ca.crt')));
});
