// Idle resident memory of a TLS federation listener: fedpeer (federation and
// keys resources, the notary, X-Matrix, the key cache) against a bare
// node:https server with the same certificate, each asked once for the key
// document and then left alone for a second. What fedpeer adds is its code
// and libraries; what it needs only on demand (ACME, certificate creation,
// the check page) is loaded when used, and start-up's burst does not leave
// a grown young generation or optimised code behind (src/lean-start.ts;
// docs/PERFORMANCE.md).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDevFiles } from '../dist/server/dev-files.js';
import { startChild, rssMiB, httpsGet, writeServeConfig } from './lib.mjs';

const FEDPEER = { host: '127.70.10.1', port: 8448 };
const BARE = { host: '127.70.10.2', port: 8448 };
const SAMPLES = Number(process.env.BENCH_ROUNDS ?? 3);

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-bench-mem-'));
  const files = await ensureDevFiles(join(dir, 'keys'));
  const ca = readFileSync(files.caCertPath, 'utf8');
  const cfg = writeServeConfig(dir, files, FEDPEER, `data_dir: ${join(dir, 'data')}\n`);
  const rows = [];
  for (let i = 0; i < SAMPLES; i++) {
    const fedpeer = await startChild(['dist/cli.js', 'serve', '--config', cfg], { readyPattern: /fedpeer: serving/, logFile: join(dir, 'fedpeer.log') });
    const body = await httpsGet(`https://${FEDPEER.host}:${FEDPEER.port}/_matrix/key/v2/server`, ca);
    writeFileSync(join(dir, 'body.json'), body);
    const bare = await startChild(['bench/bare-https.mjs', files.certPath, files.keyPath, join(dir, 'body.json'), BARE.host, String(BARE.port)], { readyPattern: /bare listening/, logFile: join(dir, 'bare.log') });
    await httpsGet(`https://${BARE.host}:${BARE.port}/_matrix/key/v2/server`, ca);
    await new Promise((r) => setTimeout(r, 1000));
    rows.push({ fedpeer: rssMiB(fedpeer.pid), bare: rssMiB(bare.pid) });
    await fedpeer.stop();
    await bare.stop();
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const f = median(rows.map((r) => r.fedpeer));
  const b = median(rows.map((r) => r.bare));
  return {
    title: 'Idle resident memory of a TLS federation listener',
    table: [
      ['server', 'idle RSS, MiB (median)', 'samples'],
      ['bare node:https, same certificate', b, rows.map((r) => r.bare).join(' / ')],
      ['fedpeer serve (federation + keys, TLS)', f, rows.map((r) => r.fedpeer).join(' / ')],
    ],
    notes: [`fedpeer adds ${Math.round((f - b) * 10) / 10} MiB to a bare node:https server (goal: at most 70 MiB in all)`, 'each server started fresh, asked once for the key document, then idle for 1 s'],
  };
}
