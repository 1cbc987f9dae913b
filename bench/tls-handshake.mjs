// Full TLS handshakes per second: fedpeer choosing among 3 certificates by
// SNI against a bare node:https server with one certificate (covering the
// same 3 names), side by side in one run. A third server, bare node:https
// with a minimal SNICallback over the same 3 certificates, separates what SNI
// selection costs from what the rest of fedpeer (routing, logging) costs. Every request opens a new
// connection and offers no session to resume, so each one is a complete
// handshake; the client rotates the SNI name over the 3 names and verifies
// the chain and name, so a wrong SNI choice would count as an error.
// Alongside the rate, each server's own CPU time per handshake is read from
// /proc: on a 2-core machine the client competes for the CPU, and the CPU
// cost is the figure that does not depend on how fast the client is.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { ensureDevFiles } from '../dist/server/dev-files.js';
import { issueCertificate } from '../dist/server/dev-ca.js';
import { startChild, cpuMs } from './lib.mjs';

const FEDPEER = { host: '127.70.1.1', port: 8448 };
const BARE = { host: '127.70.1.2', port: 8448 };
const BARE_SNI = { host: '127.70.1.3', port: 8448 };
const NAMES = ['example.test', 'hs.example.test', 'other.example.test'];
// Many short rounds, the three servers back to back in each: on a shared
// machine the background load drifts over tens of seconds, and servers
// measured seconds apart see about the same share of it. The headline ratio
// is the median of the per-round fedpeer/bare ratios.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONNECTIONS ?? 16);
const MAX_PER_ROUND = 1_000_000;
const PATH = '/_matrix/federation/v1/version';

/** One connection: handshake, one GET, read to the end. Resolves { ok, ms }. */
function once(target, servername, secureContext) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let text = '';
    let settled = false;
    const finish = (ok) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve({ ok, ms: performance.now() - t0 });
    };
    const socket = tls.connect({ host: target.host, port: target.port, servername, secureContext }, () => {
      socket.write(`GET ${PATH} HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
    });
    socket.setEncoding('latin1');
    socket.setTimeout(5000, () => finish(false));
    socket.on('data', (d) => (text += d));
    socket.on('end', () => finish(text.startsWith('HTTP/1.1 200')));
    socket.on('error', () => finish(false));
  });
}

/** A bounded run (by time and count) with CONCURRENCY connections in flight. */
async function handshakes(target, seconds, secureContext, pid) {
  const deadline = performance.now() + seconds * 1000;
  const latencies = [];
  let errors = 0;
  let started = 0;
  const cpuBefore = pid ? cpuMs(pid) : 0;
  const t0 = performance.now();
  const worker = async () => {
    while (performance.now() < deadline && started < MAX_PER_ROUND) {
      const name = NAMES[started++ % NAMES.length];
      const r = await once(target, name, secureContext);
      if (r.ok) latencies.push(r.ms);
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = pid ? cpuMs(pid) - cpuBefore : 0;
  latencies.sort((a, b) => a - b);
  const pct = (p) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0) * 10) / 10;
  return { rate: Math.round(latencies.length / elapsed), p50: pct(0.5), p99: pct(0.99), errors, cpuUsPerHandshake: latencies.length ? Math.round((cpu * 1000) / latencies.length) : 0 };
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-bench-tls-'));
  const files = await ensureDevFiles(join(dir, 'keys'));
  const ca = { certPem: readFileSync(files.caCertPath, 'utf8'), keyPem: readFileSync(join(dir, 'keys', 'dev-ca.key'), 'utf8') };
  // fedpeer: one certificate per name; bare: one certificate for all three.
  const write = (name, pair) => {
    writeFileSync(join(dir, `${name}.crt`), pair.certPem);
    writeFileSync(join(dir, `${name}.key`), pair.keyPem, { mode: 0o600 });
    return [join(dir, `${name}.crt`), join(dir, `${name}.key`)];
  };
  const own = [];
  for (const [i, name] of NAMES.entries()) own.push(write(`sni${i}`, await issueCertificate(ca, { dnsNames: [name] })));
  const [bareCert, bareKey] = write('bare', await issueCertificate(ca, { dnsNames: NAMES }));
  const cfg = join(dir, 'homeserver.yaml');
  writeFileSync(
    cfg,
    `server_name: example.test
signing_key_path: ${files.signingKeyPath}
tls_certificate_path: ${own[0][0]}
tls_private_key_path: ${own[0][1]}
tls_certificates:
  - {certificate_path: ${own[1][0]}, private_key_path: ${own[1][1]}}
  - {certificate_path: ${own[2][0]}, private_key_path: ${own[2][1]}}
listeners:
  - port: ${FEDPEER.port}
    bind_addresses: ['${FEDPEER.host}']
    tls: true
    type: http
    resources: [{names: [federation]}]
`,
  );
  const secureContext = tls.createSecureContext({ ca: ca.certPem });
  const fedpeer = await startChild(['dist/cli.js', 'serve', '--config', cfg], { readyPattern: /fedpeer: serving/, logFile: join(dir, 'fedpeer.log') });
  // The bare server answers with the bytes fedpeer sends for the same path.
  const body = await new Promise((resolve, reject) => {
    const s = tls.connect({ ...FEDPEER, servername: NAMES[0], secureContext }, () => s.write(`GET ${PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (text += d));
    s.on('end', () => resolve(text.slice(text.indexOf('\r\n\r\n') + 4)));
    s.on('error', reject);
  });
  writeFileSync(join(dir, 'body.json'), body);
  const bare = await startChild(['bench/bare-https.mjs', bareCert, bareKey, join(dir, 'body.json'), BARE.host, String(BARE.port)], {
    readyPattern: /bare listening/,
    logFile: join(dir, 'bare.log'),
  });
  const sniArgs = NAMES.flatMap((name, i) => [name, ...own[i]]);
  const bareSni = await startChild(['bench/bare-https.mjs', own[0][0], own[0][1], join(dir, 'body.json'), BARE_SNI.host, String(BARE_SNI.port), ...sniArgs], {
    readyPattern: /bare listening/,
    logFile: join(dir, 'bare-sni.log'),
  });
  try {
    for (const target of [BARE, BARE_SNI, FEDPEER]) await handshakes(target, 2, secureContext);
    const rows = { fedpeer: [], bare: [], bareSni: [] };
    for (let i = 0; i < ROUNDS; i++) {
      rows.bare.push(await handshakes(BARE, SECONDS, secureContext, bare.pid));
      rows.bareSni.push(await handshakes(BARE_SNI, SECONDS, secureContext, bareSni.pid));
      rows.fedpeer.push(await handshakes(FEDPEER, SECONDS, secureContext, fedpeer.pid));
    }
    const mean = (xs, k) => Math.round(xs.reduce((a, x) => a + x[k], 0) / xs.length);
    const median = (xs) => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    };
    const ratios = rows.fedpeer.map((r, i) => r.rate / rows.bare[i].rate);
    const ratio = median(ratios);
    const row = (label, xs) => [label, mean(xs, 'rate'), `${Math.min(...xs.map((r) => r.rate))}-${Math.max(...xs.map((r) => r.rate))}`, mean(xs, 'cpuUsPerHandshake'), mean(xs, 'p50'), mean(xs, 'p99'), xs.reduce((a, r) => a + r.errors, 0)];
    return {
      title: `TLS handshakes: a new connection per request, ${CONCURRENCY} in flight, SNI rotating over ${NAMES.length} names`,
      table: [
        ['server', 'handshakes/s (mean of rounds)', 'range over rounds', 'server CPU µs per handshake', 'p50 ms', 'p99 ms', 'errors'],
        row('bare node:https, 1 certificate', rows.bare),
        row('bare node:https, 3 certificates by SNICallback', rows.bareSni),
        row('fedpeer, 3 certificates by SNI', rows.fedpeer),
      ],
      notes: [
        `fedpeer / bare = **${ratio.toFixed(2)}** (median of the per-round ratios, which ranged ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}; ratio of the means ${(mean(rows.fedpeer, 'rate') / mean(rows.bare, 'rate')).toFixed(2)}; target >= 0.90)`,
        `server CPU per handshake vs bare: bare with SNICallback ${(mean(rows.bareSni, 'cpuUsPerHandshake') / mean(rows.bare, 'cpuUsPerHandshake')).toFixed(2)}, fedpeer ${(mean(rows.fedpeer, 'cpuUsPerHandshake') / mean(rows.bare, 'cpuUsPerHandshake')).toFixed(2)}`,
        'ECDSA P-256 certificates from the dev CA; the client verifies chain and name on every connection (a wrong SNI choice would be an error)',
        `${ROUNDS} rounds of ${SECONDS} s per server, the three servers back to back in each round, after a 2 s warm-up of each`,
      ],
      ratio,
    };
  } finally {
    await fedpeer.stop();
    await bare.stop();
    await bareSni.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
