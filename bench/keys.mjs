// Keys across servers: (1) inbound X-Matrix-verified requests per second with
// the origin's keys cached, against the same server's unauthenticated version
// endpoint as the baseline, plus raw in-process verifications per second;
// (2) notary POST latency for 50 servers fetched concurrently (uncached, then
// cached). Server names are IP literals (127.70.3.x / 127.70.4.x), so no DNS
// is involved; everything stays on loopback.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { ensureDevFiles } from '../dist/server/dev-files.js';
import { parseSigningKeys } from '../dist/matrix/signing-key.js';
import { buildXMatrixHeader, requestSigningObject, signJson, verifyJsonSignature, parseXMatrixHeader } from '../dist/matrix/signing.js';
import { startChild, startPeer, load, rssMiB } from './lib.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const A = '127.70.3.1';
const B = '127.70.3.2';

function post(url, body, ca) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = request(url, { method: 'POST', ca, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-bench-keys-'));
  const files = await ensureDevFiles(join(dir, 'keys'));
  const ca = { certPem: readFileSync(files.caCertPath, 'utf8'), keyPem: readFileSync(join(dir, 'keys', 'dev-ca.key'), 'utf8') };
  const a = await startPeer({ dir, caCertPath: files.caCertPath, ca, address: A });
  const b = await startPeer({ dir, caCertPath: files.caCertPath, ca, address: B, extra: `test_users: {"@alice:${B}:8448": {displayname: Alice}}\nnotary: {max_servers: 200}\nlimits: {rate_limit: {per_second: 100000, burst: 100000}}` });
  const aKey = parseSigningKeys(readFileSync(join(dir, `${A}.signing.key`), 'utf8'))[0];
  const uri = `/_matrix/federation/v1/query/profile?user_id=${encodeURIComponent(`@alice:${B}:8448`)}`;
  const authorization = buildXMatrixHeader({ method: 'GET', uri, origin: `${A}:8448`, destination: `${B}:8448` }, aKey);
  const caPem = files.caCertPath ? readFileSync(files.caCertPath, 'utf8') : undefined;
  // One request first, so B fetches and caches A's keys.
  const first = await load({ url: `https://${B}:8448${uri}`, seconds: 1, connections: 1, headers: { authorization } });
  if (first.errors > 0) throw new Error('the signed profile query failed; see the bench logs');

  const rows = { signed: [], version: [] };
  for (let i = 0; i < ROUNDS; i++) {
    rows.version.push(await load({ url: `https://${B}:8448/_matrix/federation/v1/version`, seconds: SECONDS }));
    rows.signed.push(await load({ url: `https://${B}:8448${uri}`, seconds: SECONDS, headers: { authorization } }));
  }
  const bRss = rssMiB(b.pid);

  // Raw verification speed, in this process: parse the header, canonicalise, verify.
  const parsed = parseXMatrixHeader(authorization);
  const t0 = process.hrtime.bigint();
  let n = 0;
  while (Number(process.hrtime.bigint() - t0) < 2e9) {
    const obj = { ...requestSigningObject({ method: 'GET', uri, origin: parsed.origin, destination: parsed.destination }), signatures: { [parsed.origin]: { [parsed.key]: parsed.sig } } };
    if (!verifyJsonSignature(obj, parsed.origin, parsed.key, aKey.publicKey).ok) throw new Error('verify failed');
    n++;
  }
  const verifyPerSec = Math.round(n / 2);

  // Notary: 50 servers, fetched concurrently by B.
  const servers = await startChild(['bench/key-servers-child.mjs', files.caCertPath, join(dir, 'keys', 'dev-ca.key'), '4', String(50 * ROUNDS)], {
    readyPattern: /key servers ready/,
    logFile: join(dir, 'key-servers.log'),
  });
  const notary = [];
  for (let r = 0; r < ROUNDS; r++) {
    const names = Array.from({ length: 50 }, (_, i) => `127.70.4.${r * 50 + i + 1}:8448`);
    const query = { server_keys: Object.fromEntries(names.map((nm) => [nm, {}])) };
    const cold = await post(`https://${B}:8448/_matrix/key/v2/query`, query, caPem);
    const warm = await post(`https://${B}:8448/_matrix/key/v2/query`, query, caPem);
    notary.push({ cold: cold.ms, warm: warm.ms, got: cold.body.server_keys?.length ?? 0 });
  }
  await servers.stop();
  await a.stop();
  await b.stop();
  const mean = (xs, k) => Math.round(xs.reduce((s, x) => s + x[k], 0) / xs.length);
  const fmt = (x) => Math.round(x * 10) / 10;
  return {
    title: 'Keys across servers: X-Matrix verification and the notary',
    table: [
      ['measure', 'result', 'rounds'],
      ['GET /_matrix/federation/v1/version (no auth), req/s, 50 connections', mean(rows.version, 'rps'), rows.version.map((r) => r.rps).join(' / ')],
      ['signed profile query, X-Matrix verified on every request (keys cached), req/s', mean(rows.signed, 'rps'), rows.signed.map((r) => r.rps).join(' / ')],
      ['  p50 / p99 latency, ms', `${mean(rows.signed, 'p50')} / ${mean(rows.signed, 'p99')}`, ''],
      ['  errors', rows.signed.reduce((s, r) => s + r.errors, 0), ''],
      ['raw verifications/s in one process (parse header, canonical JSON, Ed25519 verify)', verifyPerSec, ''],
      ['notary POST, 50 uncached servers fetched concurrently, ms', fmt(notary.reduce((s, x) => s + x.cold, 0) / notary.length), notary.map((x) => fmt(x.cold)).join(' / ')],
      ['notary POST, same 50 servers cached, ms', fmt(notary.reduce((s, x) => s + x.warm, 0) / notary.length), notary.map((x) => fmt(x.warm)).join(' / ')],
      ['documents returned per notary answer', notary.map((x) => x.got).join(' / '), ''],
    ],
    notes: [
      `verified requests reach ${(mean(rows.signed, 'rps') / mean(rows.version, 'rps')).toFixed(2)} of the unauthenticated endpoint's rate on the same server`,
      `resident memory of the verifying server after the runs: ${bRss} MiB`,
    ],
  };
}
