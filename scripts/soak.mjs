#!/usr/bin/env node
// npm run soak: 60 seconds (SOAK_SECONDS) of mixed load on one fedpeer from
// this separate process — key document, notary queries against key servers on
// the private internet, the well-known files, X-Matrix-verified profile
// queries — with a certificate reload (new files + SIGHUP) and key document
// refreshes (key_refresh_interval 20s) in the middle. Reports requests per
// second, p50/p99 latency, errors (must be 0) and resident memory at start,
// middle and end (growth must stay under 10%). Loopback only (127.70.8.x,
// 127.70.9.x); every loop is bounded by the duration.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { ensureDevFiles } from '../dist/server/dev-files.js';
import { parseSigningKeys } from '../dist/matrix/signing-key.js';
import { buildXMatrixHeader } from '../dist/matrix/signing.js';
import { startChild, startPeer, rssMiB, machine, pinningNote, runPinned } from '../bench/lib.mjs';

const pinned = await runPinned(new URL(import.meta.url).pathname, process.argv.slice(2));
if (pinned !== undefined) process.exit(pinned);

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const ORIGIN = '127.70.8.1';
const SERVER = '127.70.8.2';
const KEY_SERVERS = 20;

const dir = mkdtempSync(join(tmpdir(), 'fedpeer-soak-'));
const files = await ensureDevFiles(join(dir, 'keys'));
const caKeyPath = join(dir, 'keys', 'dev-ca.key');
const ca = { certPem: readFileSync(files.caCertPath, 'utf8'), keyPem: readFileSync(caKeyPath, 'utf8') };

const origin = await startPeer({ dir, caCertPath: files.caCertPath, ca, address: ORIGIN });
const server = await startPeer({
  dir,
  caCertPath: files.caCertPath,
  ca,
  address: SERVER,
  resources: ['federation', 'keys', 'client'],
  extra: `key_refresh_interval: 20s
public_baseurl: "https://${SERVER}:8448/"
serve_server_wellknown: true
test_users: {"@alice:${SERVER}:8448": {displayname: Alice}}
limits: {rate_limit: {per_second: 1000000, burst: 1000000}}`,
});
const keyServers = await startChild(['bench/key-servers-child.mjs', files.caCertPath, caKeyPath, '9', String(KEY_SERVERS)], {
  readyPattern: /key servers ready/,
  logFile: join(dir, 'key-servers.log'),
});

const originKey = parseSigningKeys(readFileSync(join(dir, `${ORIGIN}.signing.key`), 'utf8'))[0];
const profileUri = `/_matrix/federation/v1/query/profile?user_id=${encodeURIComponent(`@alice:${SERVER}:8448`)}`;
const authorization = buildXMatrixHeader({ method: 'GET', uri: profileUri, origin: `${ORIGIN}:8448`, destination: `${SERVER}:8448` }, originKey);
const notaryBody = JSON.stringify({ server_keys: Object.fromEntries(Array.from({ length: KEY_SERVERS }, (_, i) => [`127.70.9.${i + 1}:8448`, {}])) });
const requests = [
  { method: 'GET', path: '/_matrix/key/v2/server' },
  { method: 'POST', path: '/_matrix/key/v2/query', headers: { 'content-type': 'application/json' }, body: notaryBody },
  { method: 'GET', path: '/.well-known/matrix/server' },
  { method: 'GET', path: '/.well-known/matrix/client' },
  { method: 'GET', path: profileUri, headers: { authorization } },
];

// Warm-up under the same load, so "start" is a server at its working size
// (keys fetched, JIT done, heap grown to its steady state), not an idle one.
const WARMUP = Number(process.env.SOAK_WARMUP_SECONDS ?? 15);
await autocannon({ url: `https://${SERVER}:8448`, requests, duration: WARMUP, connections: 20 });
const rss = { start: rssMiB(server.pid), middle: 0, end: 0 };
let reloaded = false;
const middle = setTimeout(async () => {
  await server.renewCertificate();
  server.child.kill('SIGHUP');
  reloaded = true;
  rss.middle = rssMiB(server.pid);
}, (SECONDS * 1000) / 2);

const result = await autocannon({ url: `https://${SERVER}:8448`, requests, duration: SECONDS, connections: 20 });
clearTimeout(middle);
rss.end = rssMiB(server.pid);
const log = readFileSync(join(dir, `${SERVER}.log`), 'utf8');
const reloadsLogged = (log.match(/certificates reloaded|reloaded certificates|certificate.*reload/gi) ?? []).length;
await keyServers.stop();
await origin.stop();
await server.stop();

const errors = result.errors + result.timeouts + result.non2xx;
const growth = ((rss.end - rss.start) / rss.start) * 100;
console.log(`# fedpeer soak

- date: ${new Date().toISOString()}
- machine: ${machine()}
- command: npm run soak (SOAK_SECONDS=${SECONDS})
- ${pinningNote()}
- after a ${WARMUP} s warm-up under the same load; mix, round-robin per connection over 20 connections: key document, notary POST for ${KEY_SERVERS} servers, /.well-known/matrix/server, /.well-known/matrix/client, X-Matrix-signed profile query
- in the middle: new certificate files + SIGHUP (${reloaded ? 'done' : 'NOT done'}; reload lines in the log: ${reloadsLogged}); key document rebuilt every 10 s (key_refresh_interval 20s)

| measure | result |
|---|---|
| requests | ${result.requests.total} |
| requests per second (mean) | ${Math.round(result.requests.average)} |
| latency p50 / p99 (ms) | ${result.latency.p50} / ${result.latency.p99} |
| errors (socket errors + timeouts + non-2xx) | ${errors} |
| resident memory start / middle / end (MiB) | ${rss.start} / ${rss.middle} / ${rss.end} |
| memory growth start to end | ${growth.toFixed(1)}% |
`);
const ok = errors === 0 && growth < 10 && reloaded;
console.log(ok ? 'soak: PASS' : `soak: FAIL (errors ${errors}, growth ${growth.toFixed(1)}%, reloaded ${reloaded})`);
process.exit(ok ? 0 : 1);
