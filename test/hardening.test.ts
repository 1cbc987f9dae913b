// Issue 14 on the private internet: a hostile client and hostile servers
// against a real fedpeer (n.test, in this process, so its event loop is the
// one measured), each attack reproduced and its bound measured.
import t from 'tap';
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer, type TestHttpsServer } from './harness/https-server.js';
import { startFixture, type Fixture } from './harness/server-fixture.js';
import { tarPit } from './harness/tar-pit.js';
import { generateSigningKey, type SigningKey } from '../src/matrix/signing-key.js';
import { buildXMatrixHeader, signJson } from '../src/matrix/signing.js';
import { checkServerKeys, KEY_DOCUMENT_LIMITS } from '../src/matrix/server-keys.js';

const world = await federationWorld('hardening');
const { dns, pki, addr } = world;
t.teardown(() => world.close());

const outbound = { federation_custom_ca_list: [world.caFile], federation_dns_servers: [world.dns.hostPort], ip_range_whitelist: ['127.63.0.0/16'] };
dns.set('n.test', 'A', addr(1, 1));
const N: Fixture = await startFixture({
  address: addr(1, 1),
  serverName: 'n.test',
  certNames: ['n.test', addr(1, 1)],
  raw: {
    ...outbound,
    test_users: { '@alice:n.test': { displayname: 'Alice' } },
    check_page: { enabled: true },
    limits: { connection_timeout: '1s', headers_timeout: '4s', request_timeout: '4s', rate_limit: { per_second: 1000, burst: 1000 } },
    federation_client: { request_timeout: '10s' },
  },
});
t.teardown(() => N.close());

const servers: TestHttpsServer[] = [];
t.teardown(() => Promise.all(servers.map((s) => s.close())));
/** A hostile or honest key server for `names` at addr(c, d):8448; counts the requests it gets per Host. */
async function keyServer(names: string[], c: number, d: number, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const leaf = await pki.leaf(names);
  const hits: Record<string, number> = {};
  const s = await startHttpsServer({
    address: addr(c, d),
    port: 8448,
    certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem },
    handler: (req, res) => {
      const host = String(req.headers.host).toLowerCase();
      hits[host] = (hits[host] ?? 0) + 1;
      handler(req, res);
    },
  });
  servers.push(s);
  for (const n of names) if (!n.startsWith('*')) dns.set(n, 'A', addr(c, d));
  return { hits, total: () => Object.values(hits).reduce((a, b) => a + b, 0) };
}
const json = (body: unknown) => (_req: IncomingMessage, res: ServerResponse) => {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};
function keyDoc(server: string, key: SigningKey, extra: Record<string, unknown> = {}) {
  return signJson({ server_name: server, verify_keys: { [key.keyId]: { key: key.publicKeyBase64 } }, old_verify_keys: {}, valid_until_ts: Date.now() + 3_600_000, ...extra }, server, key);
}

function request(opts: { method?: string; path: string; body?: unknown; headers?: Record<string, string | string[]>; abortAfterMs?: number }) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string; bytes: number; ms: number }>((resolve, reject) => {
    const started = performance.now();
    const data = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = https.request(
      { host: addr(1, 1), port: 8448, method: opts.method ?? 'GET', path: opts.path, ca: pki.root.certPem, agent: false, headers: { ...(data ? { 'content-type': 'application/json' } : {}), ...opts.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf.toString(), bytes: buf.length, ms: performance.now() - started });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.abortAfterMs !== undefined) setTimeout(() => req.destroy(new Error('abandoned')), opts.abortAfterMs);
    req.end(data);
  });
}
const notary = (names: string[], extra: Record<string, unknown> = {}) =>
  request({ method: 'POST', path: '/_matrix/key/v2/query', body: { server_keys: Object.fromEntries(names.map((n) => [n, extra])) } });

t.test('1. one key under thousands of key ids: linear, capped, no stall', async (t) => {
  const key = generateSigningKey('k');
  const ids = Array.from({ length: 5900 }, (_, i) => `ed25519:k${i}`);
  const unsigned = { server_name: 'q.test', verify_keys: Object.fromEntries(ids.map((id) => [id, { key: key.publicKeyBase64 }])), valid_until_ts: Date.now() + 3_600_000 };
  const sig = signJson(unsigned, 'q.test', key).signatures['q.test']![key.keyId]!;
  const attack = { ...unsigned, signatures: { 'q.test': Object.fromEntries(ids.map((id) => [id, sig])) } };
  const size = JSON.stringify(attack).length;
  let started = performance.now();
  const r = checkServerKeys(attack, 'q.test', Date.now());
  const ms = performance.now() - started;
  t.notOk(r.ok);
  t.match(r.checks.at(-1)!.detail, /verify_keys lists 5900 keys; fedpeer accepts at most 16/);
  t.ok(ms < 1000, `the issue's ${(size / 1024).toFixed(0)} KiB document (5,900 ids, 100 s before) refused in ${ms.toFixed(1)} ms`);
  t.comment(`5,900 key ids, ${(size / 1024).toFixed(0)} KiB: refused in ${ms.toFixed(2)} ms`);

  // The most a document may ask: 16 ids of one key and 32 KiB signed, each signature checked over one canonicalisation.
  const max = Array.from({ length: KEY_DOCUMENT_LIMITS.maxVerifyKeys }, (_, i) => `ed25519:m${i}`);
  const pad = 'x'.repeat(KEY_DOCUMENT_LIMITS.maxSignedBytes - 2000);
  const base = { server_name: 'q.test', verify_keys: Object.fromEntries(max.map((id) => [id, { key: key.publicKeyBase64 }])), valid_until_ts: Date.now() + 3_600_000, pad };
  const maxSig = signJson(base, 'q.test', key).signatures['q.test']![key.keyId]!;
  const heaviest = { ...base, signatures: { 'q.test': Object.fromEntries(max.map((id) => [id, maxSig])) } };
  started = performance.now();
  const rounds = 20;
  for (let i = 0; i < rounds; i++) t.ok(checkServerKeys(heaviest, 'q.test', Date.now()).ok || i > 0);
  const perCheck = (performance.now() - started) / rounds;
  t.ok(perCheck < 50, `the heaviest acceptable document (16 signatures, 30 KiB signed) checks in ${perCheck.toFixed(2)} ms`);
  t.comment(`heaviest acceptable document: ${perCheck.toFixed(2)} ms per check`);
  const tooBig = signJson({ ...base, verify_keys: { [key.keyId]: { key: key.publicKeyBase64 } }, pad: 'x'.repeat(KEY_DOCUMENT_LIMITS.maxSignedBytes) }, 'q.test', key);
  t.match(checkServerKeys(tooBig, 'q.test', Date.now()).checks.at(-1)!.detail, /signed part of the document is \d+ bytes; fedpeer accepts at most 32768/);

  // Through the notary, as a stranger would send it: served by q.test, asked for by GET, POST and X-Matrix.
  const fitting = ids.slice(0, 300);
  const served = { ...unsigned, verify_keys: Object.fromEntries(fitting.map((id) => [id, { key: key.publicKeyBase64 }])), signatures: { 'q.test': Object.fromEntries(fitting.map((id) => [id, sig])) } };
  const q = await keyServer(['q.test'], 2, 1, json(served));
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const [post, get, auth] = await Promise.all([
    notary(['q.test']),
    request({ path: '/_matrix/key/v2/query/q.test?minimum_valid_until_ts=1' }),
    request({ path: '/_matrix/federation/v1/query/profile?user_id=%40alice%3An.test', headers: { authorization: buildXMatrixHeader({ method: 'GET', uri: '/_matrix/federation/v1/query/profile?user_id=%40alice%3An.test', origin: 'q.test', destination: 'n.test' }, key) } }),
  ]);
  loop.disable();
  t.same(JSON.parse(post.body), { server_keys: [] });
  t.same(JSON.parse(get.body), { server_keys: [] });
  t.equal(auth.status, 401);
  t.ok(q.total() <= 2, `q.test fetched ${q.total()} time(s) for three requests`);
  const stallMs = loop.max / 1e6;
  t.ok(stallMs < 250, `longest event-loop stall while serving them: ${stallMs.toFixed(1)} ms`);
  t.comment(`notary + X-Matrix with a 300-id document: longest event-loop stall ${stallMs.toFixed(1)} ms`);
});

t.test('2. padded documents: no unsigned kept, bytes fetched and answered bounded', async (t) => {
  const names = Array.from({ length: 20 }, (_, i) => `s${i}.pad.test`);
  const keys = new Map(names.map((n) => [n, generateSigningKey('p')]));
  const small = await keyServer(['*.pad.test', ...names], 3, 1, (req, res) => {
    const host = String(req.headers.host);
    json(keyDoc(host, keys.get(host)!, { unsigned: { pad: 'x'.repeat(60 * 1024) } }))(req, res);
  });
  // 900 KB in unsigned, as in the issue: over the 64 KiB a key document may take.
  const bigKey = generateSigningKey('b');
  await keyServer(['big.pad2.test'], 3, 2, json(keyDoc('big.pad2.test', bigKey, { unsigned: { pad: 'x'.repeat(900 * 1024) } })));
  const before = N.server.peer.keyStore.stats();
  const r = await notary([...names, 'big.pad2.test']);
  const docs = (JSON.parse(r.body) as { server_keys: Array<Record<string, unknown>> }).server_keys;
  t.equal(docs.length, 20, 'the 20 padded-but-fitting documents are vouched for, the 900 KB one is not');
  t.notOk(docs.some((d) => 'unsigned' in d), 'no unsigned in the answer');
  t.ok(r.bytes < 20 * 2048, `answer: ${r.bytes} bytes for 20 servers (the fetched documents were ${20 * 60} KiB)`);
  const after = N.server.peer.keyStore.stats();
  t.ok(after.bytes - before.bytes < 20 * 2048, `cache grew by ${after.bytes - before.bytes} bytes for 20 servers`);
  t.equal(small.total(), 20);
  await N.server.peer.keyStore.flush();
  const file = readFileSync(join(N.config.dataDir, 'server-keys.json'), 'utf8');
  t.notMatch(file, /xxxxxxxx/, 'the cache file holds no padding');
  t.comment(`notary answer for 20 padded servers: ${r.bytes} bytes; cache ${after.bytes} bytes in ${after.entries} entries; cache file ${file.length} bytes`);
});

t.test('6. a nested unsigned is refused at parse time and poisons nothing', async (t) => {
  const key = generateSigningKey('n');
  const doc = keyDoc('nest.test', key);
  const text = JSON.stringify(doc).replace(/}$/, `,"unsigned":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`);
  await keyServer(['nest.test'], 4, 1, json(text));
  const goodKey = generateSigningKey('g');
  await keyServer(['good.test'], 4, 2, json(keyDoc('good.test', goodKey)));
  const r = await notary(['nest.test', 'good.test']);
  t.equal(r.status, 200);
  t.same((JSON.parse(r.body) as { server_keys: Array<{ server_name: string }> }).server_keys.map((d) => d.server_name), ['good.test']);
  const again = await request({ path: '/_matrix/key/v2/query/nest.test' });
  t.equal(again.status, 200);
  await N.server.peer.keyStore.flush();
  t.match(readFileSync(join(N.config.dataDir, 'server-keys.json'), 'utf8'), /"good.test"/, 'the cache file is still written');
});

t.test('5. case variants, many Authorization headers: one fetch', async (t) => {
  const key = generateSigningKey('v');
  const victim = await keyServer(['victim.test'], 5, 1, json(keyDoc('victim.test', key)));
  const variants = Array.from({ length: 100 }, (_, i) => [...'victim.test'].map((ch, j) => ((i >> (j % 7)) & 1 ? ch.toUpperCase() : ch)).join(''));
  for (let i = 0; i < 3; i++) {
    const r = await notary(variants);
    t.equal((JSON.parse(r.body) as { server_keys: unknown[] }).server_keys.length, 1, 'one server, one answer');
  }
  t.equal(victim.total(), 1, `3 POSTs naming ${new Set(variants).size} letter-case variants: ${victim.total()} request at the victim`);

  const uri = '/_matrix/federation/v1/query/profile?user_id=%40alice%3An.test';
  const origin = generateSigningKey('o');
  const originServer = await keyServer(['origin.test'], 5, 2, json(keyDoc('origin.test', origin)));
  const many = Array.from({ length: 200 }, (_, i) => buildXMatrixHeader({ method: 'GET', uri, origin: 'origin.test', destination: 'n.test' }, generateSigningKey(`x${i}`)));
  // 200 headers do not fit in Node's 16 KiB of headers; 60 do.
  const r200 = await request({ path: uri, headers: { authorization: many } });
  t.equal(r200.status, 431, '200 headers: refused by the HTTP parser');
  const r60 = await request({ path: uri, headers: { authorization: many.slice(0, 60) } });
  t.equal(r60.status, 401);
  t.match(JSON.parse(r60.body).error, /60 X-Matrix Authorization headers; at most 4/);
  t.equal(originServer.total(), 0, '60 headers: no fetch at the origin');
  for (let round = 0; round < 5; round++) {
    const four = await request({ path: uri, headers: { authorization: many.slice(round * 4, round * 4 + 4) } });
    t.equal(four.status, 401);
  }
  t.equal(originServer.total(), 1, `5 requests of 4 headers with 20 new key ids: ${originServer.total()} fetch at the origin`);
  const good = await request({ path: uri, headers: { authorization: buildXMatrixHeader({ method: 'GET', uri, origin: 'origin.test', destination: 'n.test' }, origin) } });
  t.equal(good.status, 200, 'the real key still authenticates, from the cache');
});

t.test('3. abandoned notary requests naming a tar pit do not starve authentication', async (t) => {
  const sockets = await tarPit(t, addr(6, 1));
  const names = Array.from({ length: 300 }, (_, i) => `tp${i}.test`);
  for (const n of names) dns.set(n, 'A', addr(6, 1));
  let peakPit = 0;
  const watch = setInterval(() => (peakPit = Math.max(peakPit, sockets.size)), 20);
  // Three POSTs of 100 names, each abandoned by its client after 300 ms.
  const abandoned = await Promise.allSettled([0, 1, 2].map((i) => request({ method: 'POST', path: '/_matrix/key/v2/query', body: { server_keys: Object.fromEntries(names.slice(i * 100, i * 100 + 100).map((n) => [n, {}])) }, abortAfterMs: 300 })));
  t.ok(abandoned.every((a) => a.status === 'rejected'), 'the client went away');
  // A real peer whose key is not cached yet.
  const P = await startFixture({ address: addr(7, 1), serverName: 'p.test', certNames: ['p.test'], raw: outbound });
  t.teardown(() => P.close());
  dns.set('p.test', 'A', addr(7, 1));
  const started = performance.now();
  const r = await P.server.peer.client.request('n.test', 'GET', '/_matrix/federation/v1/query/profile?user_id=%40alice%3An.test');
  const authMs = performance.now() - started;
  t.equal(r.status, 200);
  t.ok(authMs < 3000, `a signed request from an uncached peer answered in ${authMs.toFixed(0)} ms`);
  // Abandoned work is cancelled: the pit's connections close soon after.
  let left = sockets.size;
  for (let i = 0; i < 40 && left > 0; i++) {
    await new Promise((res) => setTimeout(res, 50));
    left = sockets.size;
  }
  clearInterval(watch);
  t.equal(left, 0, `tar pit connections open 2 s after the clients left: ${left} (peak ${peakPit})`);
  t.ok(peakPit <= 8, `at most 8 fetches at once for one client (peak ${peakPit} connections)`);
  t.comment(`tar pit: peak ${peakPit} connections for 300 abandoned names; uncached peer authenticated in ${authMs.toFixed(0)} ms`);
});

t.test('4. a request being worked on is not cut as idle, and is answered within request_timeout', async (t) => {
  const key = generateSigningKey('s');
  await keyServer(['slow.test'], 8, 1, (req, res) => setTimeout(() => json(keyDoc('slow.test', key))(req, res), 2500));
  const slow = await request({ path: '/_matrix/key/v2/query/slow.test' });
  t.equal(slow.status, 200, 'connection_timeout 1 s, fetch 2.5 s: answered, not reset');
  t.equal((JSON.parse(slow.body) as { server_keys: unknown[] }).server_keys.length, 1);
  t.ok(slow.ms > 2000, `answered after ${slow.ms.toFixed(0)} ms`);
  await keyServer(['never.test'], 8, 2, () => undefined);
  const never = await request({ path: '/_matrix/key/v2/query/never.test' });
  t.equal(never.status, 200);
  t.same(JSON.parse(never.body), { server_keys: [] });
  t.ok(never.ms > 3500 && never.ms < 6000, `a server that never answers: notary answered at ${never.ms.toFixed(0)} ms (request_timeout 4 s)`);
});

t.test('7. timestamps past the year 275760 are shown, not thrown', async (t) => {
  const key = generateSigningKey('f');
  const doc = keyDoc('future.test', key, { valid_until_ts: Number.MAX_SAFE_INTEGER });
  const r = checkServerKeys(doc, 'future.test', Date.now());
  t.ok(r.ok);
  t.match(r.checks.find((c) => c.check === 'valid_until_ts')!.detail, /9007199254740991 \(ms since 1970, beyond the dates a clock can show\)/);
  await keyServer(['future.test'], 9, 1, json(doc));
  const { runCheck } = await import('../src/check/run.js');
  const report = await runCheck('future.test', { config: world.config(), dnsServers: [dns.hostPort], connectTimeoutMs: 1000, requestTimeoutMs: 2000, wellKnownTimeoutMs: 1000, dnsTimeoutMs: 500 });
  t.equal(report.targets[0]?.keys?.ok, true, 'the check page and `fedpeer check` report it');
  t.equal(report.targets[0]?.keys?.valid_until, null);
  const { renderText } = await import('../src/check/report-text.js');
  const { renderHtmlReport } = await import('../src/check/report-html.js');
  t.match(renderText(report), /valid until a date too far to show/);
  t.match(renderHtmlReport(report, { action: '/_fedpeer/check' }), /until a date too far to show/);
});

t.test('4. the check page queue: bounded, and fair between visitors', async (t) => {
  await tarPit(t, addr(10, 1));
  for (let i = 0; i < 6; i++) dns.set(`slowcheck${i}.test`, 'A', addr(10, 1));
  for (let i = 0; i < 5; i++) dns.set(`pagecheck${i}.test`, 'A', addr(10, 1));
  const key = generateSigningKey('c');
  await keyServer(['fine.test'], 10, 2, json(keyDoc('fine.test', key)));
  const { createCheckPageService } = await import('../src/check/page.js');
  const page = await createCheckPageService({
    config: world.config(),
    path: '/_fedpeer/check',
    dnsServers: [dns.hostPort],
    maxConcurrent: 1,
    handshakeTimeoutMs: 1000,
    connectTimeoutMs: 1000,
    requestTimeoutMs: 1000,
    wellKnownTimeoutMs: 1000,
    dnsTimeoutMs: 500,
  });
  const started = performance.now();
  const hog = Array.from({ length: 6 }, (_, i) => page.report(`slowcheck${i}.test`, { client: '192.0.2.66' }).then(
    () => 'done',
    (e: Error) => e.name,
  ));
  const visitor = page.report('fine.test', { client: '192.0.2.77' }).then(() => performance.now() - started);
  const outcomes = await Promise.all(hog);
  const visitorMs = await visitor;
  t.same(outcomes.filter((o) => o === 'QueueFullError').length, 3, 'one visitor: one check running and two waiting; the rest refused at once');
  t.same(outcomes.filter((o) => o === 'done').length, 3);
  const hogDone = performance.now() - started;
  t.ok(visitorMs < hogDone, `the other visitor's check finished after ${visitorMs.toFixed(0)} ms, before the first visitor's queue (${hogDone.toFixed(0)} ms)`);
  // Through the page and the tester API beside it (one queue), one client: one check runs, two wait,
  // the rest are refused at once, and a check still running at request_timeout (4 s) is answered 503
  // while it goes on.
  const paths = ['/_fedpeer/check?format=json&server_name=', '/_fedpeer/check/api/report?server_name=', '/_fedpeer/check/api/federation-ok?server_name='];
  const pageAnswers = await Promise.all(
    Array.from({ length: 5 }, (_, i) => request({ path: `${paths[i % 3]}pagecheck${i}.test` })),
  );
  const statuses = pageAnswers.map((r) => r.status).sort();
  t.same(statuses, [503, 503, 503, 503, 503], 'every slow check answered 503 within the bound');
  const refusedAtOnce = pageAnswers.filter((r) => r.ms < 2000).length;
  t.equal(refusedAtOnce, 2, `two refused at once (queue full); three answered at the bound (${pageAnswers.map((r) => Math.round(r.ms)).join(', ')} ms)`);
  for (const r of pageAnswers) t.match(JSON.parse(r.body), { errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: 30_000 });
  for (const i of [1, 2, 4]) t.equal(pageAnswers[i]!.headers['access-control-allow-origin'], '*', `the tester API's 503 carries CORS (${paths[i % 3]})`);
  const c = new AbortController();
  const blocker = page.report('slowcheck5.test', { client: 'a' });
  const waiting = page.report('fine2.test', { client: 'b', signal: c.signal });
  c.abort();
  await t.rejects(waiting, { name: 'AbandonedError' }, 'a visitor who left is dropped from the queue');
  await blocker;
});
