// Certificates reloaded without a restart: file watch, SIGHUP, broken files
// kept out of service. Block 127.11.
import t from 'tap';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import * as https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { block } from './harness/addresses.js';
import { makeTestPki, type TestPki } from './harness/test-ca.js';
import { captureLogger } from './harness/server-fixture.js';
import { probeTls, eventually } from './harness/tls-probe.js';
import { defaultConfig } from '../src/config/load.js';
import { startServer, serveCommand } from '../src/commands/serve.js';
import { formatSigningKeys, generateSigningKey } from '../src/matrix/signing-key.js';

const addr = block('tls-reload');
const fp = (pem: string) => new X509Certificate(pem).fingerprint256;

let pki: TestPki;
t.before(async () => {
  pki = await makeTestPki();
});

const dirs: string[] = [];
t.teardown(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-reload-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'signing.key'), formatSigningKeys([generateSigningKey()]), { mode: 0o600 });
  return dir;
}

/** Replaces a file the way renewal tools do: write aside, rename over. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.new`, text);
  renameSync(`${path}.new`, path);
}

interface Outcome {
  ok: boolean;
  fingerprint?: string;
  fresh: boolean;
  /** When the request was sent: a fresh connection's handshake starts after it. */
  startedAt: number;
  /** When the response ended. */
  at: number;
  error?: string;
}

function get(host: string, ca: string, agent: https.Agent | false): Promise<Outcome> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const req = https.request({ host, port: 8448, path: '/_matrix/federation/v1/version', ca, servername: 'example.test', agent, timeout: 5000 }, (res) => {
      const socket = res.socket as TLSSocket;
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200, fingerprint, fresh: agent === false, startedAt, at: Date.now() }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ ok: false, fresh: agent === false, startedAt, at: Date.now(), error: e.message }));
    req.end();
  });
}

t.test('files swapped under a stream of requests: no request fails, new handshakes see the new certificate', async (t) => {
  const [a, b] = await Promise.all([pki.leaf(['example.test', 'hs.example.test']), pki.leaf(['example.test', 'hs.example.test', 'new.example.test'])]);
  const dir = tempDir();
  writeFileSync(join(dir, 'tls.crt'), a.chainPem);
  writeFileSync(join(dir, 'tls.key'), a.keyPem);
  const host = addr(1, 1);
  const config = defaultConfig({
    baseDir: dir,
    raw: {
      server_name: 'example.test',
      signing_key_path: 'signing.key',
      tls_certificate_path: 'tls.crt',
      tls_private_key_path: 'tls.key',
      listeners: [{ port: 8448, bind_addresses: [host], tls: true, type: 'http', resources: [{ names: ['federation'] }] }],
    },
  });
  const log = captureLogger();
  const server = await startServer(config, { logger: log.logger, watchDebounceMs: 100 });
  t.teardown(() => server.close(500));
  const ca = pki.root.certPem;

  // Two workers reuse one keep-alive connection each, two open a new one per request.
  const TOTAL = 400;
  const deadline = Date.now() + 30_000;
  const outcomes: Outcome[] = [];
  const keepAlive = [new https.Agent({ keepAlive: true, maxSockets: 1 }), new https.Agent({ keepAlive: true, maxSockets: 1 })];
  t.teardown(() => keepAlive.forEach((k) => k.destroy()));
  let issued = 0;
  const worker = async (agent: https.Agent | false) => {
    while (issued < TOTAL && Date.now() < deadline) {
      issued++;
      outcomes.push(await get(host, ca, agent));
    }
  };
  const workers = [worker(keepAlive[0]!), worker(keepAlive[1]!), worker(false), worker(false)];

  t.ok(await eventually(() => outcomes.length >= 80, { withinMs: 15_000 }), 'stream under way');
  const swappedAt = Date.now();
  // Key first, then certificate: in between, a reload would see a mismatch and keep A.
  replaceFile(join(dir, 'tls.key'), b.keyPem);
  replaceFile(join(dir, 'tls.crt'), b.chainPem);
  t.ok(
    await eventually(async () => (await probeTls({ host, port: 8448, ca, servername: 'example.test' })).fingerprint === fp(b.certPem), { withinMs: 10_000 }),
    'a new handshake sees the new certificate',
  );
  const seenAt = Date.now();
  await Promise.all(workers);

  t.equal(outcomes.length, TOTAL, 'the whole bounded stream ran');
  t.same(outcomes.filter((o) => !o.ok), [], 'zero failed requests');
  const before = outcomes.filter((o) => o.at < swappedAt);
  const after = outcomes.filter((o) => o.fresh && o.startedAt > seenAt);
  t.ok(before.length > 0 && before.every((o) => o.fingerprint === fp(a.certPem)), 'before the swap: the old certificate');
  t.ok(after.length > 0, 'new connections after the swap');
  t.ok(after.every((o) => o.fingerprint === fp(b.certPem)), 'every new connection after the swap: the new certificate');
  const kept = outcomes.filter((o) => !o.fresh && o.startedAt > seenAt);
  t.ok(kept.some((o) => o.fingerprint === fp(a.certPem)), 'keep-alive connections opened before the swap carry on with theirs');
  const reloads = log.lines().filter((l) => l.msg === 'certificates reloaded');
  t.ok(reloads.length >= 1 && reloads.length <= 2, `changes debounced into ${reloads.length} reload(s)`);
  t.equal((await probeTls({ host, port: 8448, ca })).fingerprint, fp(b.certPem), 'clients without SNI get the new default too');
});

t.test('a broken new file keeps the old certificate in service and names the file', async (t) => {
  const [a, b, c, other, expired] = await Promise.all([
    pki.leaf(['example.test']),
    pki.leaf(['hs.example.test']),
    pki.leaf(['example.test', 'c.example.test']),
    pki.leaf(['other.test']),
    pki.leaf(['example.test'], { expired: true }),
  ]);
  const dir = tempDir();
  for (const [name, text] of Object.entries({ 'a.crt': a.chainPem, 'a.key': a.keyPem, 'b.crt': b.chainPem, 'b.key': b.keyPem })) writeFileSync(join(dir, name), text);
  const host = addr(2, 1);
  const config = defaultConfig({
    baseDir: dir,
    raw: {
      server_name: 'example.test',
      signing_key_path: 'signing.key',
      tls_certificate_path: 'a.crt',
      tls_private_key_path: 'a.key',
      tls_certificates: [{ certificate_path: 'b.crt', private_key_path: 'b.key' }],
      listeners: [{ port: 8448, bind_addresses: [host], tls: true, type: 'http', resources: [{ names: ['federation'] }] }],
    },
  });
  const log = captureLogger();
  const server = await startServer(config, { logger: log.logger, watchCertificates: false });
  t.teardown(() => server.close(500));
  const ca = pki.root.certPem;
  const served = async (servername?: string) => (await probeTls({ host, port: 8448, ca, ...(servername ? { servername } : {}) })).fingerprint;

  const broken: Array<[string, string, string, RegExp]> = [
    ['garbage', 'garbage', a.keyPem, /a\.crt: no PEM certificate found/],
    ['key mismatch', a.chainPem, other.keyPem, /a\.crt: private key does not match/],
    ['expired', expired.chainPem, expired.keyPem, /a\.crt: certificate expired on/],
  ];
  for (const [why, cert, key, message] of broken) {
    writeFileSync(join(dir, 'a.crt'), cert);
    writeFileSync(join(dir, 'a.key'), key);
    await server.reloadCertificates();
    t.equal(await served('example.test'), fp(a.certPem), `${why}: the old certificate stays`);
    t.equal(await served(), fp(a.certPem), `${why}: also for clients without SNI`);
    const error = log.lines().filter((l) => l.level === 50).at(-1);
    t.match(error, { file: join(dir, 'a.crt'), key: 'tls_certificate_path', msg: message }, `${why}: error names the file`);
    t.match(String(error?.msg), /stays in service/);
  }
  // The default is fixed while the second entry breaks: each file is judged on its own.
  writeFileSync(join(dir, 'a.crt'), c.chainPem);
  writeFileSync(join(dir, 'a.key'), c.keyPem);
  writeFileSync(join(dir, 'b.crt'), 'truncated');
  await server.reloadCertificates();
  t.equal(await served('c.example.test'), fp(c.certPem), 'fixed default installed');
  t.equal(await served(), fp(c.certPem), 'and given to clients without SNI');
  t.equal(await served('hs.example.test'), fp(b.certPem), 'the broken second file keeps its old certificate');
  t.match(log.lines().filter((l) => l.level === 50).at(-1), { file: join(dir, 'b.crt'), key: 'tls_certificates[0]' });
});

t.test('SIGHUP reloads certificates in `fedpeer serve`', async (t) => {
  const [a, b] = await Promise.all([pki.leaf(['example.test']), pki.leaf(['example.test', 'sighup.example.test'])]);
  const dir = tempDir();
  writeFileSync(join(dir, 'tls.crt'), a.chainPem);
  writeFileSync(join(dir, 'tls.key'), a.keyPem);
  const host = addr(3, 1);
  writeFileSync(
    join(dir, 'homeserver.yaml'),
    [
      'server_name: example.test',
      'signing_key_path: signing.key',
      'tls_certificate_path: tls.crt',
      'tls_private_key_path: tls.key',
      'listeners:',
      `  - {port: 8448, bind_addresses: ['${host}'], tls: true, type: http, resources: [{names: [federation]}]}`,
      '',
    ].join('\n'),
  );
  const log = captureLogger();
  const stderr: string[] = [];
  const io = { stdout: () => undefined, stderr: (s: string) => void stderr.push(s), readStdin: async () => '' };
  // tap's own signal-exit handler is there too; count relative to it.
  const hupBefore = process.listenerCount('SIGHUP');
  // The watch is off, so only the signal can bring the new certificate in.
  const server = await serveCommand({ config: join(dir, 'homeserver.yaml'), logger: log.logger, io, watchCertificates: false });
  t.teardown(() => server.close(500));
  t.match(stderr.join('\n'), /SIGHUP reloads certificates/);
  const ca = pki.root.certPem;
  writeFileSync(join(dir, 'tls.crt'), b.chainPem);
  writeFileSync(join(dir, 'tls.key'), b.keyPem);
  await new Promise((r) => setTimeout(r, 200));
  t.equal((await probeTls({ host, port: 8448, ca, servername: 'example.test' })).fingerprint, fp(a.certPem), 'nothing changes without the signal');
  process.kill(process.pid, 'SIGHUP');
  t.ok(
    await eventually(async () => (await probeTls({ host, port: 8448, ca, servername: 'example.test' })).fingerprint === fp(b.certPem), { withinMs: 5000 }),
    'after SIGHUP new handshakes get the new certificate',
  );
  t.ok(log.lines().some((l) => l.signal === 'SIGHUP'), 'the signal is logged');
  await server.close(500);
  t.equal(process.listenerCount('SIGHUP'), hupBefore, 'closing the server removes its signal handlers');
});
