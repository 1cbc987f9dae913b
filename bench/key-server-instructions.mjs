// GET /_matrix/key/v2/server, counted in CPU instructions rather than timed:
// each server runs under valgrind's callgrind with instrumentation off,
// takes a warm-up (JIT tiering done), then instrumentation is switched on
// for a fixed number of requests. Instruction counts do not move with other
// tenants' load, which moves the timed benchmark's rounds by up to 2x on
// this class of machine; they leave out what instructions do not show
// (cache misses, the kernel's side of the syscalls), so they complement the
// timed figures rather than replace them. Needs valgrind (Debian: valgrind).
// BENCH_METRICS=1 gives fedpeer a `type: metrics` listener, so every request
// is counted for it (what the metrics cost per request).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDevFiles } from '../dist/server/dev-files.js';
import { load } from './lib.mjs';

const WARMUP = Number(process.env.BENCH_WARMUP_REQUESTS ?? 8000);
const MEASURED = Number(process.env.BENCH_REQUESTS ?? 3000);
const HOSTS = { fedpeer: '127.70.5.1', fastify: '127.70.5.2', bare: '127.70.5.3', routed: '127.70.5.4' };

function have(cmd) {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Runs one server under callgrind; resolves to instructions per measured request. */
async function count(name, args, dir, path = '/_matrix/key/v2/server') {
  const out = join(dir, `${name}.callgrind`);
  const child = spawn('valgrind', ['--tool=callgrind', '--smc-check=all', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let seen = '';
  const killer = setTimeout(() => child.kill('SIGKILL'), 15 * 60_000);
  try {
    await new Promise((resolve, reject) => {
      child.stderr.on('data', (d) => {
        seen = (seen + d).slice(-20_000);
        if (/fedpeer: serving|listening on/.test(seen)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`${name} exited with ${code} under valgrind: ${seen.slice(-2000)}`)));
    });
    const url = `https://${HOSTS[name]}:8448${path}`;
    const warm = await load({ url, amount: WARMUP, connections: 10, timeoutSeconds: 120 });
    spawnSync('callgrind_control', ['--instr=on', String(child.pid)], { stdio: 'ignore' });
    const measured = await load({ url, amount: MEASURED, connections: 10, timeoutSeconds: 120 });
    spawnSync('callgrind_control', ['--instr=off', String(child.pid)], { stdio: 'ignore' });
    if (warm.errors || measured.errors || measured.total !== MEASURED) throw new Error(`${name}: ${measured.total} of ${MEASURED} requests answered, ${warm.errors + measured.errors} errors`);
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
    const totals = /^totals: (\d+)/m.exec(readFileSync(out, 'utf8'));
    if (!totals) throw new Error(`${name}: no totals in ${out}`);
    return Number(totals[1]) / MEASURED;
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

export async function run() {
  const title = 'Key document: CPU instructions per request (callgrind)';
  if (!have('valgrind') || !have('callgrind_control')) {
    return { title, table: [['result'], ['skipped: valgrind is not installed (Debian: apt-get install valgrind)']], notes: [], ratio: undefined };
  }
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-bench-instr-'));
  const files = await ensureDevFiles(join(dir, 'keys'));
  const cfg = join(dir, 'homeserver.yaml');
  const config = (host) => `server_name: localhost:8448
signing_key_path: ${files.signingKeyPath}
tls_certificate_path: ${files.certPath}
tls_private_key_path: ${files.keyPath}
listeners:
  - {port: 8448, bind_addresses: ['${host}'], tls: true, type: http, resources: [{names: [federation, keys]}]}
${process.env.BENCH_METRICS ? `  - {port: 9100, bind_addresses: ['${host}'], type: metrics}\n` : ''}`;
  writeFileSync(cfg, config(HOSTS.fedpeer));
  const routedCfg = join(dir, 'routed.yaml');
  writeFileSync(routedCfg, config(HOSTS.routed));
  // fedpeer's own document is what the baselines serve, byte for byte.
  const { createKeyPublisher } = await import('../dist/server/key-document.js');
  const { parseSigningKeys } = await import('../dist/matrix/signing-key.js');
  const keys = parseSigningKeys(readFileSync(files.signingKeyPath, 'utf8'), files.signingKeyPath);
  writeFileSync(join(dir, 'body.json'), createKeyPublisher({ serverName: 'localhost:8448', signingKeys: keys, oldVerifyKeys: {}, refreshIntervalMs: 86_400_000, now: Date.now }).current().body);
  const baseline = (script, host) => [script, files.certPath, files.keyPath, join(dir, 'body.json'), host, '8448'];
  // Two at a time (one per core); counts do not depend on what runs beside them.
  const [fedpeer, fastify] = await Promise.all([
    count('fedpeer', ['dist/cli.js', 'serve', '--config', cfg], dir),
    count('fastify', baseline('bench/bare-fastify.mjs', HOSTS.fastify), dir),
  ]);
  // The same document through fedpeer's Fastify route (the `/server/{keyId}`
  // form), which the listener does not answer itself.
  const [bare, routed] = await Promise.all([
    count('bare', baseline('bench/bare-https.mjs', HOSTS.bare), dir),
    count('routed', ['dist/cli.js', 'serve', '--config', routedCfg], dir, `/_matrix/key/v2/server/${encodeURIComponent(keys[0].keyId)}`),
  ]);
  const k = (n) => `${(n / 1000).toFixed(1)}k`;
  return {
    title,
    table: [
      ['server', 'instructions per request', 'relative to bare (as a rate)'],
      ['bare node:https', k(bare), '1.00'],
      ['bare Fastify route (no hooks, no logging)', k(fastify), (bare / fastify).toFixed(2)],
      ['fedpeer', k(fedpeer), `**${(bare / fedpeer).toFixed(2)}**`],
      ['fedpeer, `/server/{keyId}` form (through Fastify)', k(routed), (bare / routed).toFixed(2)],
    ],
    notes: [
      `${MEASURED} requests counted per server after a warm-up of ${WARMUP}, 10 keep-alive connections, each server alone under valgrind's callgrind (all threads counted: JIT, GC, libuv)`,
      'fedpeer writes its access line for every request to a file, as in the timed benchmark',
    ],
    ratio: bare / fedpeer,
  };
}
