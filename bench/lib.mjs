// Shared pieces of the benchmarks: child servers, autocannon runs, RSS samples.
// Every load run is bounded by duration; all traffic stays on loopback.
import { spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import autocannon from 'autocannon';

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
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', out, 'pipe'] });
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

/** One bounded autocannon run; `onMidway` runs halfway through (for RSS samples). */
export async function load({ url, seconds, connections = 50, servername, ca, onMidway, method = 'GET', body, headers }) {
  const timer = onMidway ? setTimeout(onMidway, (seconds * 1000) / 2) : undefined;
  const result = await autocannon({
    url,
    duration: seconds,
    connections,
    pipelining: 1,
    method,
    body,
    headers,
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

export function machine() {
  const cpus = (readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1] ?? 'unknown cpu';
  const cores = (readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm) ?? []).length;
  return `${cpus.trim()}, ${cores} cores, Node ${process.version}`;
}
