// GET /_matrix/key/v2/server over HTTPS keep-alive: fedpeer against a bare
// node:https server returning the same bytes, side by side in one run, with
// autocannon in this (separate) process as the load generator.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { ensureDevFiles } from '../dist/server/dev-files.js';
import { startChild, load, rssMiB } from './lib.mjs';

const FEDPEER = { host: '127.70.0.1', port: 8448 };
const BARE = { host: '127.70.0.2', port: 8448 };
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);

function get(url, ca) {
  return new Promise((resolve, reject) => {
    request(url, { ca, servername: 'localhost' }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
    }).on('error', reject).end();
  });
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-bench-'));
  const files = await ensureDevFiles(join(dir, 'keys'));
  const cfg = join(dir, 'homeserver.yaml');
  writeFileSync(
    cfg,
    `server_name: localhost:8448
signing_key_path: ${files.signingKeyPath}
tls_certificate_path: ${files.certPath}
tls_private_key_path: ${files.keyPath}
listeners:
  - port: ${FEDPEER.port}
    bind_addresses: ['${FEDPEER.host}']
    tls: true
    type: http
    resources: [{names: [federation, keys]}]
`,
  );
  const { readFileSync } = await import('node:fs');
  const ca = readFileSync(files.caCertPath, 'utf8');
  const fedpeer = await startChild(['dist/cli.js', 'serve', '--config', cfg], { readyPattern: /fedpeer: serving/, logFile: join(dir, 'fedpeer.log') });
  const body = await get(`https://${FEDPEER.host}:${FEDPEER.port}/_matrix/key/v2/server`, ca);
  writeFileSync(join(dir, 'body.json'), body);
  const bare = await startChild(['bench/bare-https.mjs', files.certPath, files.keyPath, join(dir, 'body.json'), BARE.host, String(BARE.port)], {
    readyPattern: /bare listening/,
    logFile: join(dir, 'bare.log'),
  });
  const idleRss = rssMiB(fedpeer.pid);
  const url = (t) => `https://${t.host}:${t.port}/_matrix/key/v2/server`;
  // Warm both up (JIT, TLS session setup) before measuring.
  await load({ url: url(FEDPEER), seconds: 2 });
  await load({ url: url(BARE), seconds: 2 });
  const rows = { fedpeer: [], bare: [] };
  let loadRss = 0;
  for (let i = 0; i < ROUNDS; i++) {
    rows.bare.push(await load({ url: url(BARE), seconds: SECONDS }));
    rows.fedpeer.push(await load({ url: url(FEDPEER), seconds: SECONDS, onMidway: () => (loadRss = Math.max(loadRss, rssMiB(fedpeer.pid))) }));
  }
  const afterRss = rssMiB(fedpeer.pid);
  await fedpeer.stop();
  await bare.stop();
  const mean = (xs, k) => Math.round(xs.reduce((a, x) => a + x[k], 0) / xs.length);
  const f = mean(rows.fedpeer, 'rps');
  const b = mean(rows.bare, 'rps');
  return {
    title: 'Key document over HTTPS keep-alive (50 connections)',
    table: [
      ['server', 'req/s (mean of rounds)', 'rounds', 'p50 ms', 'p99 ms', 'errors'],
      ['bare node:https', b, rows.bare.map((r) => r.rps).join(' / '), mean(rows.bare, 'p50'), mean(rows.bare, 'p99'), rows.bare.reduce((a, r) => a + r.errors, 0)],
      ['fedpeer', f, rows.fedpeer.map((r) => r.rps).join(' / '), mean(rows.fedpeer, 'p50'), mean(rows.fedpeer, 'p99'), rows.fedpeer.reduce((a, r) => a + r.errors, 0)],
    ],
    notes: [
      `fedpeer / bare = **${(f / b).toFixed(2)}** (target >= 0.80)`,
      `fedpeer resident memory: idle ${idleRss} MiB, under load ${loadRss} MiB, after ${afterRss} MiB`,
    ],
    ratio: f / b,
  };
}
