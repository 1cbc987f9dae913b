// The X-Matrix-verified request path: signed profile queries against one
// fedpeer (origin keys cached), with two baselines measured in the same run:
// the bare libsodium verification of the very same signature over the very
// same bytes (what verifying must cost at least), and the same server's
// unauthenticated version endpoint (what HTTPS, routing and the access line
// cost without any verification). Server CPU per request comes from /proc,
// so "what verification adds" is signed minus unauthenticated, set beside
// the bare verification. Server names are IP literals (127.70.11.x): no DNS.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sodium from 'sodium-native';
import { ensureDevFiles } from '../dist/server/dev-files.js';
import { parseSigningKeys } from '../dist/matrix/signing-key.js';
import { canonicalJson, canonicalJsonByWalk } from '../dist/matrix/canonical-json.js';
import { buildXMatrixHeader, parseXMatrixHeader, requestSigningObject, signedBytes, checkDetached } from '../dist/matrix/signing.js';
import { startPeer, load, cpuMs } from './lib.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const A = '127.70.11.1';
const B = '127.70.11.2';

/** Calls per second of `f` over `ms`, after a warm-up. */
function rate(f, ms = 1500) {
  for (let i = 0; i < 500; i++) f();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    f();
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-bench-xmatrix-'));
  const files = await ensureDevFiles(join(dir, 'keys'));
  const ca = { certPem: readFileSync(files.caCertPath, 'utf8'), keyPem: readFileSync(join(dir, 'keys', 'dev-ca.key'), 'utf8') };
  const a = await startPeer({ dir, caCertPath: files.caCertPath, ca, address: A });
  const b = await startPeer({ dir, caCertPath: files.caCertPath, ca, address: B, extra: `test_users: {"@alice:${B}:8448": {displayname: Alice}}` });
  const aKey = parseSigningKeys(readFileSync(join(dir, `${A}.signing.key`), 'utf8'))[0];
  const uri = `/_matrix/federation/v1/query/profile?user_id=${encodeURIComponent(`@alice:${B}:8448`)}`;
  const request = { method: 'GET', uri, origin: `${A}:8448`, destination: `${B}:8448` };
  const authorization = buildXMatrixHeader(request, aKey);
  const first = await load({ url: `https://${B}:8448${uri}`, seconds: 1, connections: 1, headers: { authorization } });
  if (first.errors > 0) throw new Error('the signed profile query failed; see the bench logs');
  const versionUrl = `https://${B}:8448/_matrix/federation/v1/version`;
  await load({ url: versionUrl, seconds: 2 });
  await load({ url: `https://${B}:8448${uri}`, seconds: 2, headers: { authorization } });

  const rows = { signed: [], version: [] };
  const measure = async (which) => {
    const before = cpuMs(b.pid);
    const r = which === 'signed' ? await load({ url: `https://${B}:8448${uri}`, seconds: SECONDS, headers: { authorization } }) : await load({ url: versionUrl, seconds: SECONDS });
    r.cpuUs = ((cpuMs(b.pid) - before) * 1000) / Math.max(1, r.total);
    rows[which].push(r);
  };
  for (let i = 0; i < ROUNDS; i++) {
    for (const which of i % 2 === 0 ? ['version', 'signed'] : ['signed', 'version']) await measure(which);
  }
  await a.stop();
  await b.stop();

  // The baselines, in this process: the same signature over the same bytes.
  const parsed = parseXMatrixHeader(authorization);
  const bytes = signedBytes(requestSigningObject(request));
  const sig = Buffer.from(parsed.sig, 'base64');
  const bareVerify = rate(() => sodium.crypto_sign_verify_detached(sig, bytes, aKey.publicKey));
  const fullPath = rate(() => {
    const p = parseXMatrixHeader(authorization);
    const signed = signedBytes(requestSigningObject({ method: 'GET', uri, origin: p.origin, destination: p.destination }));
    if (!checkDetached(signed, p.sig, aKey.publicKey, p.key).ok) throw new Error('verify failed');
  });

  // The /send path canonicalises whole transactions: 50 events, one pass against the reference walk.
  const event = { type: 'm.room.message', room_id: '!r:example.org', sender: '@alice:example.org', content: { body: 'hello world '.repeat(10), msgtype: 'm.text' }, origin_server_ts: 1_700_000_000_000, depth: 12, prev_events: ['$a', '$b'], auth_events: ['$c', '$d', '$e'], hashes: { sha256: 'x'.repeat(43) } };
  const txn = { origin: 'example.org', origin_server_ts: 1_700_000_000_000, pdus: Array.from({ length: 50 }, (_, i) => ({ ...event, depth: i })) };
  const onePass = rate(() => canonicalJson(txn), 1000);
  const walked = rate(() => canonicalJsonByWalk(txn), 1000);

  const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const signedRps = median(rows.signed.map((r) => r.rps));
  const versionRps = median(rows.version.map((r) => r.rps));
  const signedCpu = median(rows.signed.map((r) => r.cpuUs));
  const versionCpu = median(rows.version.map((r) => r.cpuUs));
  const verifyUs = 1e6 / bareVerify;
  const round1 = (x) => Math.round(x * 10) / 10;
  return {
    title: 'X-Matrix-verified requests against bare libsodium verification',
    table: [
      ['measure', 'result', 'rounds'],
      ['bare libsodium verifications/s, same signature and bytes (one core)', Math.round(bareVerify), ''],
      ['header parse + canonical JSON + verification, in one process, /s', Math.round(fullPath), ''],
      ['signed profile query, X-Matrix verified on every request, req/s (50 connections)', signedRps, rows.signed.map((r) => r.rps).join(' / ')],
      ['GET /_matrix/federation/v1/version (no auth) on the same server, req/s', versionRps, rows.version.map((r) => r.rps).join(' / ')],
      ['server CPU µs per request: signed / unauthenticated / bare verification', `${round1(signedCpu)} / ${round1(versionCpu)} / ${round1(verifyUs)}`, ''],
      ['errors (signed)', rows.signed.reduce((s, r) => s + r.errors, 0), ''],
      ['canonical JSON of a 50-event transaction, µs: one pass / the reference walk', `${round1(1e6 / onePass)} / ${round1(1e6 / walked)}`, ''],
    ],
    notes: [
      `verification adds ${round1(signedCpu - versionCpu)} µs of server CPU per request, ${((signedCpu - versionCpu) / verifyUs).toFixed(2)} times the bare libsodium verification (${round1(verifyUs)} µs)`,
      `the verified path in one process runs at ${(fullPath / bareVerify).toFixed(2)} of the bare verification rate`,
      `signed requests reach ${(signedRps / versionRps).toFixed(2)} of the unauthenticated endpoint's rate on the same server`,
      `at ${round1(signedCpu)} µs of server CPU each, one core of its own would verify ${Math.round(1e6 / signedCpu)} signed requests/s (the measured rate is lower when other tenants share the core)`,
    ],
  };
}
