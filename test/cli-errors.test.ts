// Errors a newcomer meets, each one sentence naming the cause and the fix,
// never a library's own wording: ACME directories that cannot be used,
// numbers JSON.parse rounds, the path generate-config hints, what
// `request -v` shows for a failure, --allow-private.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli.js';
import { checkDirectory, describeNetworkError } from '../src/acme/directory.js';
import { numberLiterals } from '../src/commands/json-tools.js';
import { block } from './harness/addresses.js';
import { startHttpServer, startHttpsServer, type TestServer } from './harness/https-server.js';
import { makeTestPki } from './harness/test-ca.js';
import { captureIO } from './harness/cli-io.js';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const addr = block('cli-errors');
const tmp = () => mkdtempSync(join(tmpdir(), 'fedpeer-cli-errors-'));


/** Runs the built CLI; resolves with its exit code, output and how long it took. */
function run(args: string[], opts: { cwd?: string; stdin?: string } = {}): Promise<{ code: number | null; out: string; err: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? process.cwd(), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.stdin.end(opts.stdin ?? '');
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, out, err, ms: Date.now() - started });
    });
  });
}

const servers: Array<TestServer | net.Server> = [];
const sockets = new Set<net.Socket>();
t.teardown(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) await ('requests' in s ? s.close() : new Promise<void>((r) => s.close(() => r())));
});

t.test('acme renew: an ACME directory that cannot be used is one sentence, within the timeout', async (t) => {
  const pki = await makeTestPki();
  const dir = tmp();
  t.equal(await main(['keygen', '--out', join(dir, 'signing.key')], captureIO().io), 0);
  const leaf = await pki.leaf([addr(1, 3)]);
  // Accepts connections and never answers.
  const silent = net.createServer((socket) => sockets.add(socket));
  await new Promise<void>((r) => silent.listen(443, addr(1, 2), r));
  servers.push(silent);
  const https = await startHttpsServer({ address: addr(1, 3), port: 443, certificates: leaf });
  servers.push(https);
  const notFound = await startHttpServer({ address: addr(1, 4), port: 80, handler: (_q, s) => void s.writeHead(404).end('no') });
  const notJson = await startHttpServer({ address: addr(1, 5), port: 80, handler: (_q, s) => void s.writeHead(200).end('<html>') });
  const notAcme = await startHttpServer({ address: addr(1, 6), port: 80, handler: (_q, s) => void s.writeHead(200).end('{"hello":1}') });
  const huge = await startHttpServer({ address: addr(1, 7), port: 80, handler: (_q, s) => void s.writeHead(200).end('x'.repeat(100_000)) });
  servers.push(notFound, notJson, notAcme, huge);
  const cases: Array<[string, RegExp]> = [
    [`https://${addr(1, 1)}:1/directory`, /the connection was refused \(nothing listens at that address and port\)/],
    [`https://${addr(1, 2)}/directory`, /no answer within 1 s \(federation_client\.request_timeout\)/],
    [`https://${addr(1, 3)}/directory`, /its TLS certificate is not trusted \([A-Z_]+\); for a private ACME server, set acme\.ca_certificate_path to the CA that signed it/],
    [`http://${addr(1, 4)}/directory`, /it answered HTTP 404, not an ACME directory/],
    [`http://${addr(1, 5)}/directory`, /its answer is not JSON, so not an ACME directory/],
    [`http://${addr(1, 6)}/directory`, /no newNonce, newAccount and newOrder URLs/],
    [`http://${addr(1, 7)}/directory`, /it answered more than 64 KiB, not a directory/],
    ['https://no-such-host.invalid/directory', /its host name does not resolve/],
  ];
  for (const [i, [url, message]] of cases.entries()) {
    const cfg = join(dir, `hs${i}.yaml`);
    writeFileSync(cfg, `server_name: example.test\nsigning_key_path: signing.key\nfederation_client: {request_timeout: 1s}\nacme: {enabled: true, directory_url: '${url}', webroot: '${dir}'}\n`);
    const r = await run(['acme', 'renew', '--config', cfg]);
    t.equal(r.code, 1, url);
    t.equal(r.out.trim().split('\n').length, 1, `one line: ${r.out}`);
    t.match(r.out, new RegExp(`^example\\.test: failed: cannot use the ACME directory ${url.replace(/[.?*+^$[\]\\(){}|-]/g, '\\$&')}: `));
    t.match(r.out, message);
    t.match(r.out, /Check acme\.directory_url\.$/m);
    t.notMatch(r.out + r.err, /TypeError|Cannot read properties|axios/);
    t.ok(r.ms < 60_000, `answered in ${r.ms} ms, not after acme-client's 77 s of retries`);
  }
  // The ACME server's own CA, given: the directory check passes that step.
  await t.rejects(checkDirectory(`https://${addr(1, 3)}/directory`, { caPem: pki.root.certPem, timeoutMs: 1000 }), /its answer has no newNonce/);
});

t.test('describeNetworkError: each failure in words, unknown ones left to the caller', async (t) => {
  t.match(describeNetworkError({ code: 'ECONNRESET' }, 1000), /closed before an answer/);
  t.match(describeNetworkError({ code: 'EHOSTUNREACH' }, 1000), /no route/);
  t.match(describeNetworkError({ code: 'ERR_SSL_WRONG_VERSION_NUMBER' }, 1000), /TLS handshake failed .*https URL on an HTTPS port/);
  t.match(describeNetworkError({ code: 'ECONNABORTED' }, 30_000), /no answer within 30 s/);
  t.equal(describeNetworkError({ code: 'EWHATEVER' }, 1000), undefined);
  t.equal(describeNetworkError({}, 1000), undefined);
});

t.test('canonical-json quotes the number as written, not as JSON.parse rounded it', async (t) => {
  const r = await run(['canonical-json'], { stdin: '{"s": "9007199254740993 in a string", "a": [1, {"b.c": 9007199254740993}]}' });
  t.equal(r.code, 1);
  t.equal(r.err.trim(), 'fedpeer canonical-json: integer out of range [-(2^53)+1, 2^53-1]: 9007199254740993 at .a[1].b.c (JSON.parse would read it as 9007199254740992)');
  let c = captureIO('{"big": 1e400}');
  t.equal(await main(['canonical-json'], c.io), 1);
  t.match(c.err(), /: 1e400 at \.big \(JSON\.parse would read it as Infinity\)/);
  c = captureIO('{"n": -9007199254740993.5}');
  t.equal(await main(['canonical-json'], c.io), 1);
  t.match(c.err(), /out of range .*: -9007199254740993\.5 at \.n/);
  c = captureIO('{"n": 9007199254740992}');
  t.equal(await main(['canonical-json'], c.io), 1, 'written as it is read: the plain message');
  t.match(c.err(), /integer out of range \[-\(2\^53\)\+1, 2\^53-1\]: 9007199254740992 at \.n$/);
  c = captureIO('{"f": 1.5}');
  t.equal(await main(['canonical-json'], c.io), 1);
  t.match(c.err(), /not an integer: 1\.5 at \.f$/);
  c = captureIO('"\\ud800"');
  t.equal(await main(['canonical-json'], c.io), 1);
  t.match(c.err(), /lone surrogate/);
  t.same(numberLiterals('{"a\\"1": [-1, 2.5e3, "3", 4], "b": 0}'), ['-1', '2.5e3', '4', '0']);
});

t.test('generate-config hints the path it wrote, as typed from here', async (t) => {
  const dir = tmp();
  const r = await run(['generate-config', '--server-name', 'example.test', '--out', 'sub/dir/hs.yaml'], { cwd: dir });
  t.equal(r.code, 0, r.err);
  t.match(r.err, /then: fedpeer serve --config sub\/dir\/hs\.yaml$/m);
  const abs = join(tmp(), 'etc', 'hs.yaml');
  const c = captureIO();
  t.equal(await main(['generate-config', '--server-name', 'example.test', '--out', abs], c.io), 0);
  t.match(c.err(), new RegExp(`then: fedpeer serve --config ${abs.replace(/[.]/g, '\\.')}$`));
});

t.test('request -v shows the request, the Authorization header sent, and a failure\'s status and headers', async (t) => {
  const pki = await makeTestPki();
  const dir = tmp();
  const where = addr(2, 1);
  const leaf = await pki.leaf([where]);
  const server = await startHttpsServer({
    address: where,
    port: 8448,
    certificates: leaf,
    handler: (req, res) => {
      const body = JSON.stringify({ errcode: 'M_NOT_FOUND', error: 'nobody', got: req.headers.authorization ?? null });
      res.writeHead(404, { 'content-type': 'application/json', 'x-test': 'yes' }).end(body);
    },
  });
  servers.push(server);
  writeFileSync(join(dir, 'ca.pem'), pki.root.certPem);
  t.equal(await main(['keygen', '--out', join(dir, 'signing.key')], captureIO().io), 0);
  const cfg = join(dir, 'hs.yaml');
  writeFileSync(cfg, `server_name: cli.test\nsigning_key_path: signing.key\nfederation_custom_ca_list: [ca.pem]\nip_range_whitelist: ['${where}/32']\n`);
  let c = captureIO();
  t.equal(await main(['request', '--config', cfg, '-v', `${where}:8448`, '/_matrix/federation/v1/query/profile?user_id=@x:cli.test'], c.io), 1);
  const err = c.err();
  t.match(err, new RegExp(`^> GET /_matrix/federation/v1/query/profile\\?user_id=@x:cli\\.test to ${where}:8448 via ${where}:8448$`, 'm'));
  t.match(err, /^> Authorization: X-Matrix origin="cli\.test",destination="127\.90\.2\.1:8448",key="ed25519:a_\w+",sig="[A-Za-z0-9+/]+"$/m);
  t.match(err, /^< 404 \(response: status: .*\(M_NOT_FOUND: nobody\)\)$/m);
  t.match(err, /^< x-test: yes$/m);
  const sent = JSON.parse(c.out()).got as string;
  t.match(err, `> Authorization: ${sent}`, 'the header shown is the one the server received');
  c = captureIO();
  t.equal(await main(['request', '--config', cfg, '--unsigned', '-v', `${where}:8448`, '/x'], c.io), 1);
  t.match(c.err(), /^> \(no Authorization header: unsigned\)$/m);
  t.equal(JSON.parse(c.out()).got, null);
  c = captureIO();
  t.equal(await main(['request', '--config', cfg, `${where}:8448`, '/x'], c.io), 1);
  t.match(c.err(), /^404 \(response: status:/, 'without -v, the status line only');
  t.notMatch(c.err(), /x-test/);
  // Nothing listening: the request line and the error, no status.
  c = captureIO();
  writeFileSync(cfg, `server_name: cli.test\nsigning_key_path: signing.key\nfederation_custom_ca_list: [ca.pem]\nip_range_whitelist: ['${addr(2, 9)}/32']\nfederation_client: {request_timeout: 2s}\n`);
  t.equal(await main(['request', '--config', cfg, '-v', `${addr(2, 9)}:8448`, '/x'], c.io), 1);
  t.match(c.err(), /^> GET \/x to 127\.90\.2\.9:8448/m);
  t.match(c.err(), /fedpeer request: connect: /);
});

t.test('--allow-private: loopback targets for this run only', async (t) => {
  const where = addr(3, 1);
  let c = captureIO();
  t.equal(await main(['resolve', `${where}:8448`], c.io), 1);
  t.match(c.out(), /ip_range_blacklist/);
  c = captureIO();
  t.equal(await main(['resolve', `${where}:8448`, '--allow-private'], c.io), 0, c.out());
  t.match(c.out(), new RegExp(`1\\. ${where.replace(/\./g, '\\.')}:8448`));
  const r = spawnSync(process.execPath, [CLI, 'resolve', '0.0.0.0:8448', '--allow-private'], { encoding: 'utf8' });
  t.equal(r.status, 1, '0.0.0.0 stays blocked, as in Synapse');
});
