// Shared pieces of the benchmarks: child servers, autocannon runs, RSS samples.
// Every load run is bounded by duration; all traffic stays on loopback.
import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import autocannon from 'autocannon';

/** utime + stime of a process, in milliseconds. */
export function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // Fields after "comm": state is [0]; utime and stime are [11] and [12], in clock ticks (100 Hz on Linux).
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

export function rssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

/** Starts a node child and resolves once `readyPattern` shows on its stdout or stderr. */
export async function startChild(args, { readyPattern, env = {}, logFile } = {}) {
  // Logs go to a file, as in production, not through a pipe this (load
  // generating) process would have to drain. Readiness is read from stderr.
  const out = logFile ? openSync(logFile, 'a') : 'ignore';
  // With BENCH_SERVER_CPU set (and taskset present), servers run pinned to that
  // core and scripts/bench.mjs pins the load generator to another, so the two
  // do not take turns on the same core and rounds vary far less.
  const pin = process.env.BENCH_SERVER_CPU;
  const [cmd, argv] = pin && existsSync('/usr/bin/taskset') ? ['/usr/bin/taskset', ['-c', pin, process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', out, 'pipe'] });
  let seen = '';
  const ready = new Promise((resolve, reject) => {
    const onData = (d) => {
      seen += d.toString();
      if (seen.length > 100_000) seen = seen.slice(-10_000);
      if (readyPattern.test(seen)) resolve();
    };
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${seen.slice(-2000)}`)));
  });
  const timeout = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await ready;
  clearTimeout(timeout);
  child.stderr.resume();
  return {
    child,
    pid: child.pid,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await once(child, 'exit');
      clearTimeout(t);
    },
  };
}

/**
 * One bounded autocannon run, of `seconds` or of `amount` requests (then
 * bounded by `timeoutSeconds` per request); `onMidway` runs halfway through a
 * timed run (for RSS samples).
 */
export async function load({ url, seconds, amount, timeoutSeconds, connections = 50, servername, ca, onMidway, method = 'GET', body, headers, requests }) {
  const timer = onMidway && seconds ? setTimeout(onMidway, (seconds * 1000) / 2) : undefined;
  const result = await autocannon({
    url,
    ...(amount ? { amount, ...(timeoutSeconds ? { timeout: timeoutSeconds } : {}) } : { duration: seconds }),
    connections,
    pipelining: 1,
    method,
    body,
    headers,
    // A sequence of {method, path, headers} each connection cycles through (distinct signed requests).
    ...(requests ? { requests } : {}),
    servername,
    tlsOptions: ca ? { ca, servername } : undefined,
  });
  if (timer) clearTimeout(timer);
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    total: result.requests.total,
  };
}

/**
 * homeserver.yaml for `fedpeer serve` as server_name localhost:8448 with the
 * dev files of `ensureDevFiles`, one TLS listener (federation, keys) on
 * `host:port`, and `extra` lines; returns its path.
 */
export function writeServeConfig(dir, files, { host, port }, extra = '') {
  const cfg = join(dir, 'homeserver.yaml');
  writeFileSync(
    cfg,
    `server_name: localhost:8448
signing_key_path: ${files.signingKeyPath}
tls_certificate_path: ${files.certPath}
tls_private_key_path: ${files.keyPath}
${extra}listeners:
  - {port: ${port}, bind_addresses: ['${host}'], tls: true, type: http, resources: [{names: [federation, keys]}]}
`,
  );
  return cfg;
}

/** One GET over HTTPS with SNI `localhost` and the given CA; resolves to the body. */
export async function httpsGet(url, ca) {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    request(url, { ca, servername: 'localhost' }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
    }).on('error', reject).end();
  });
}

export function machine() {
  const cpus = (readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1] ?? 'unknown cpu';
  const cores = (readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm) ?? []).length;
  return `${cpus.trim()}, ${cores} cores, Node ${process.version}`;
}

/**
 * A fedpeer child whose server name is its own IP literal (`<address>:8448`),
 * so peers reach it without DNS: certificate for the address from the dev CA
 * `ca`, a fresh signing key, outbound trust in that CA and the 127.70/16 block.
 * `extra` is appended to its homeserver.yaml; `nodeArgs` go to node before the
 * script (--cpu-prof, say). Writes the files under `dir`.
 */
export async function startPeer({ dir, caCertPath, ca, address, extra = '', resources = ['federation', 'keys'], nodeArgs = [] }) {
  const { issueCertificate } = await import('../dist/server/dev-ca.js');
  const { formatSigningKeys, generateSigningKey } = await import('../dist/matrix/signing-key.js');
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const writeCert = async () => {
    const leaf = await issueCertificate(ca, { ipAddresses: [address] });
    writeFileSync(join(dir, `${address}.crt`), leaf.certPem);
    writeFileSync(join(dir, `${address}.key`), leaf.keyPem);
  };
  await writeCert();
  const signingKeyPath = join(dir, `${address}.signing.key`);
  writeFileSync(signingKeyPath, formatSigningKeys([generateSigningKey()]));
  const cfg = join(dir, `${address}.yaml`);
  writeFileSync(
    cfg,
    `server_name: "${address}:8448"
signing_key_path: ${address}.signing.key
tls_certificate_path: ${address}.crt
tls_private_key_path: ${address}.key
federation_custom_ca_list: [${caCertPath}]
ip_range_whitelist: ['127.70.0.0/16']
data_dir: data-${address}
${extra}
listeners:
  - {port: 8448, bind_addresses: ['${address}'], tls: true, type: http, resources: [{names: [${resources.join(', ')}]}]}
`,
  );
  const logFile = join(dir, `${address}.log`);
  const child = await startChild([...nodeArgs, 'dist/cli.js', 'serve', '--config', cfg], { readyPattern: /fedpeer: serving/, logFile });
  return { ...child, signingKeyPath, logFile, renewCertificate: writeCert };
}

/**
 * On a machine with two or more cores and taskset, re-runs the calling script
 * pinned to core 0 with its servers on core 1 (BENCH_SERVER_CPU), and returns
 * the child's exit code; returns undefined when already pinned or when pinning
 * is not possible (or BENCH_NO_PIN is set), and the caller goes on unpinned.
 */
export async function runPinned(script, args) {
  const { cpus } = await import('node:os');
  const { spawnSync } = await import('node:child_process');
  if (process.env.BENCH_PINNED || process.env.BENCH_NO_PIN || cpus().length < 2 || !existsSync('/usr/bin/taskset')) return undefined;
  const r = spawnSync('/usr/bin/taskset', ['-c', '0', process.execPath, script, ...args], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_PINNED: '1', BENCH_SERVER_CPU: process.env.BENCH_SERVER_CPU ?? '1' },
  });
  return r.status ?? 1;
}

export function pinningNote() {
  return process.env.BENCH_SERVER_CPU
    ? `servers pinned to core ${process.env.BENCH_SERVER_CPU}, load generator to core 0 (taskset), so they do not take turns on one core`
    : 'not pinned (no taskset, one core, or BENCH_NO_PIN): load generator and servers share the cores';
}
