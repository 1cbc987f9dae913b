// Graceful shutdown under load: with requests in flight (notary queries that
// wait on a slow key server), SIGTERM stops new connections, lets every
// in-flight request finish with its answer (no reset), and exits 0.
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as https from 'node:https';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer } from './harness/https-server.js';
import { signJson } from '../src/matrix/signing.js';
import { formatSigningKeys, generateSigningKey } from '../src/matrix/signing-key.js';

const world = await federationWorld('soak');
const { dns, pki, addr } = world;
t.teardown(() => world.close());

// A key server that takes 1.5 s to answer.
const slowKey = generateSigningKey('s');
const slowLeaf = await pki.leaf(['slow.test']);
const slow = await startHttpsServer({
  address: addr(2, 1),
  port: 8448,
  certificates: { certPem: slowLeaf.chainPem, keyPem: slowLeaf.keyPem },
  handler: async (_req, res) => {
    await new Promise((r) => setTimeout(r, 1500));
    const doc = signJson({ server_name: 'slow.test', verify_keys: { 'ed25519:s': { key: slowKey.publicKeyBase64 } }, old_verify_keys: {}, valid_until_ts: Date.now() + 86_400_000 }, 'slow.test', slowKey);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
  },
});
t.teardown(() => slow.close());
dns.set('slow.test', 'A', addr(2, 1));

t.test('SIGTERM under load: in-flight requests finish, exit 0', async (t) => {
  const address = addr(1, 1);
  const leaf = await pki.leaf([address]);
  const dir = world.dir;
  writeFileSync(join(dir, 'tls.crt'), leaf.chainPem);
  writeFileSync(join(dir, 'tls.key'), leaf.keyPem);
  writeFileSync(join(dir, 'signing.key'), formatSigningKeys([generateSigningKey()]));
  writeFileSync(
    join(dir, 'hs.yaml'),
    `server_name: shutdown.test
signing_key_path: signing.key
tls_certificate_path: tls.crt
tls_private_key_path: tls.key
federation_custom_ca_list: [${world.caFile}]
federation_dns_servers: ['${world.dns.hostPort}']
ip_range_whitelist: ['127.62.0.0/16']
limits: {rate_limit: {per_second: 1000, burst: 1000}}
listeners:
  - {port: 8448, bind_addresses: ['${address}'], tls: true, type: http, resources: [{names: [federation, keys]}]}
`,
  );
  const child = spawn(process.execPath, [new URL('../dist/cli.js', import.meta.url).pathname, 'serve', '--config', join(dir, 'hs.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  t.teardown(() => clearTimeout(killer));
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.includes('fedpeer: serving')) resolve();
    });
    child.once('exit', (c) => reject(new Error(`exited ${c}: ${stderr}`)));
  });
  // One connection per request, so all 20 are at the server (none queued in the agent).
  const agent = new https.Agent({ keepAlive: true, maxSockets: 20 });
  t.teardown(() => agent.destroy());
  const ask = (path: string, method = 'GET', body?: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request({ host: address, port: 8448, path, method, ca: pki.root.certPem, agent }, (res) => {
        let b = '';
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      });
      req.on('error', reject);
      req.end(body);
    });
  // 20 slow requests in flight over keep-alive connections...
  const inflight = Array.from({ length: 20 }, () => ask('/_matrix/key/v2/query', 'POST', JSON.stringify({ server_keys: { 'slow.test': {} } })));
  // In flight means the server is handling them: the slow key server has been
  // asked (the notary shares one fetch among them), and all 20 were written.
  for (let i = 0; i < 100 && slow.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
  t.ok(slow.requests.length > 0, 'requests are in flight (the key fetch has started)');
  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  // ...a new connection after SIGTERM is not accepted...
  const late = await new Promise<string>((resolve) => {
    https
      .get({ host: address, port: 8448, path: '/_matrix/federation/v1/version', ca: pki.root.certPem, agent: false }, (res) => resolve(`answered ${res.statusCode}`))
      .on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  t.equal(late, 'ECONNREFUSED', 'no new connections after SIGTERM');
  // ...and every in-flight request gets its full answer.
  const results = await Promise.allSettled(inflight);
  t.equal(results.filter((r) => r.status === 'rejected').length, 0, 'no request in flight was reset');
  const answered = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  t.ok(answered.every((r) => r.status === 200 && JSON.parse(r.body).server_keys.length === 1), 'all 20 answered 200 with the slow server keys');
  const [code] = await once(child, 'exit');
  t.equal(code, 0, 'exit 0');
});
