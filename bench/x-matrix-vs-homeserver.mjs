// X-Matrix-verified profile queries against fedpeer and another homeserver
// (Synapse, say), side by side: the same kind of request, signed by one
// origin both trust, sent alternately to each in rounds of the same length,
// each server pinned to the same core while the load generator has the
// other. Every request is distinct (a counter in the query string), so its
// signature must really be checked: no answer can come from a cache.
//
// The origin is a small fedpeer started here under an IP-literal server name
// (<BENCH_ORIGIN_ADDRESS>:8448); both servers fetch its keys from it, so the
// homeserver must reach that address and trust the CA its certificate is
// issued from (BENCH_ORIGIN_CA_CERT and _KEY: a CA the homeserver trusts for
// outbound federation). A fresh key id each run makes the homeserver fetch
// the origin's keys anew. Without the environment below it is skipped.
//
// A third server in the same rounds is the floor of any Node answer to the
// same requests: bench/bare-verified.mjs (node:https, one regular expression,
// the signed bytes written by hand, libsodium, a fixed answer), which says
// how much of fedpeer's cost is its own and how much is TLS, HTTP and the
// signature check every server pays.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseSigningKeys } from '../dist/matrix/signing-key.js';
import { buildXMatrixHeader } from '../dist/matrix/signing.js';
import { issueCertificate } from '../dist/server/dev-ca.js';
import { startPeer, startChild, load, cpuMs } from './lib.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const DISTINCT = 2000;
const ORIGIN = process.env.BENCH_ORIGIN_ADDRESS ?? '127.70.12.1';
const FEDPEER = process.env.BENCH_FEDPEER_ADDRESS ?? '127.70.12.2';
const BARE = process.env.BENCH_BARE_ADDRESS ?? '127.70.12.3';

export const REQUIRED_ENV = ['HOMESERVER_FEDERATION_URL', 'HOMESERVER_SERVER_NAME', 'HOMESERVER_USER', 'BENCH_ORIGIN_CA_CERT', 'BENCH_ORIGIN_CA_KEY'];

export const USAGE = `HOMESERVER_FEDERATION_URL (https://host:port of its federation listener), HOMESERVER_SERVER_NAME, HOMESERVER_USER (a user on it the profile query asks for), BENCH_ORIGIN_CA_CERT and BENCH_ORIGIN_CA_KEY (a CA the homeserver trusts for outbound federation, PKCS#8 key), optionally HOMESERVER_CA_FILE (to trust its certificate) and HOMESERVER_PID (for its CPU per request, and to pin it)`;

/** The homeserver's CPU mask, so it can be put back; pins every thread of `pid` to `cpu`. */
function pin(pid, cpu) {
  const before = /mask: ([0-9a-f]+)/.exec(spawnSync('taskset', ['-p', String(pid)], { encoding: 'utf8' }).stdout ?? '')?.[1];
  if (!before) return undefined;
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { encoding: 'utf8' });
  return r.status === 0 ? before : undefined;
}

function unpin(pid, mask) {
  spawnSync('taskset', ['-a', '-p', mask, String(pid)], { stdio: 'ignore' });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round1 = (x) => Math.round(x * 10) / 10;

export async function run() {
  const title = 'X-Matrix-verified profile queries: fedpeer against another homeserver';
  const missing = REQUIRED_ENV.filter((k) => !process.env[k]);
  if (missing.length) {
    return { title, table: [['result'], [`skipped: set ${missing.join(', ')}`]], notes: [`needs ${USAGE}; docs/PERFORMANCE.md shows the command used with Synapse`] };
  }
  const env = process.env;
  const hsUrl = new URL(env.HOMESERVER_FEDERATION_URL);
  const hsName = env.HOMESERVER_SERVER_NAME;
  const hsPid = env.HOMESERVER_PID ? Number(env.HOMESERVER_PID) : undefined;
  const hsCa = env.HOMESERVER_CA_FILE ? readFileSync(env.HOMESERVER_CA_FILE, 'utf8') : undefined;
  const ca = { certPem: readFileSync(env.BENCH_ORIGIN_CA_CERT, 'utf8'), keyPem: readFileSync(env.BENCH_ORIGIN_CA_KEY, 'utf8') };

  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-bench-vs-hs-'));
  const originName = `${ORIGIN}:8448`;
  const fedpeerName = `${FEDPEER}:8448`;
  const fedpeerUser = `@user1:${fedpeerName}`;
  const origin = await startPeer({ dir, caCertPath: env.BENCH_ORIGIN_CA_CERT, ca, address: ORIGIN, resources: ['keys'] });
  const fedpeer = await startPeer({ dir, caCertPath: env.BENCH_ORIGIN_CA_CERT, ca, address: FEDPEER, extra: `test_users: {"${fedpeerUser}": {displayname: user1}}` });
  const key = parseSigningKeys(readFileSync(origin.signingKeyPath, 'utf8'))[0];
  const bareCert = await issueCertificate(ca, { ipAddresses: [BARE] });
  writeFileSync(join(dir, 'bare.crt'), bareCert.certPem);
  writeFileSync(join(dir, 'bare.key'), bareCert.keyPem);
  // It checks the same requests as fedpeer (signed for fedpeer's name) against the origin's key.
  const bare = await startChild(['bench/bare-verified.mjs', join(dir, 'bare.crt'), join(dir, 'bare.key'), BARE, '8448', originName, key.keyId, key.publicKeyBytes.toString('base64'), fedpeerName], {
    readyPattern: /bare listening/,
    logFile: join(dir, 'bare.log'),
  });
  let mask;
  try {
    // The same request to each, made distinct by a counter the servers ignore, each signed for its destination.
    const signed = (destination, user) =>
      Array.from({ length: DISTINCT }, (_, i) => {
        const path = `/_matrix/federation/v1/query/profile?user_id=${encodeURIComponent(user)}&bench=${i}`;
        return { method: 'GET', path, headers: { authorization: buildXMatrixHeader({ method: 'GET', uri: path, origin: originName, destination }, key) } };
      });
    const targets = {
      fedpeer: { url: `https://${FEDPEER}:8448`, requests: signed(fedpeerName, fedpeerUser), pid: fedpeer.pid, tls: { ca: ca.certPem } },
      homeserver: { url: hsUrl.origin, requests: signed(hsName, env.HOMESERVER_USER), pid: hsPid, tls: { ca: hsCa, servername: hsUrl.hostname } },
      floor: { url: `https://${BARE}:8448`, requests: [], pid: bare.pid, tls: { ca: ca.certPem } },
    };
    targets.floor.requests = targets.fedpeer.requests;
    const first = {};
    for (const [name, t] of Object.entries(targets)) {
      // One request first (the server fetches the origin's keys), then a warm-up.
      const one = await load({ url: t.url, amount: 1, timeoutSeconds: 30, connections: 1, requests: t.requests.slice(0, 1), ...t.tls });
      if (one.errors) throw new Error(`${name}: the first signed profile query failed (see ${origin.logFile} and the server's log)`);
      first[name] = one;
      await load({ url: t.url, seconds: 2, connections: CONNECTIONS, requests: t.requests, ...t.tls });
    }
    const cpu = process.env.BENCH_SERVER_CPU;
    if (hsPid !== undefined && cpu !== undefined) mask = pin(hsPid, cpu);
    const load0 = loadavg()[0];
    const rounds = { fedpeer: [], homeserver: [], floor: [] };
    for (let i = 0; i < ROUNDS; i++) {
      for (const name of i % 2 === 0 ? ['fedpeer', 'homeserver', 'floor'] : ['floor', 'homeserver', 'fedpeer']) {
        const t = targets[name];
        const before = t.pid !== undefined ? cpuMs(t.pid) : undefined;
        const gen = process.cpuUsage();
        const started = performance.now();
        const r = await load({ url: t.url, seconds: SECONDS, connections: CONNECTIONS, requests: t.requests, ...t.tls });
        const wallMs = performance.now() - started;
        const genUsed = process.cpuUsage(gen);
        r.cpuUs = before !== undefined ? ((cpuMs(t.pid) - before) * 1000) / Math.max(1, r.total) : undefined;
        r.generatorBusy = (genUsed.user + genUsed.system) / 1000 / wallMs;
        rounds[name].push(r);
      }
    }
    const load1 = loadavg()[0];
    const f = rounds.fedpeer;
    const h = rounds.homeserver;
    const b = rounds.floor;
    const perRound = f.map((r, i) => r.rps / Math.max(1, h[i].rps));
    const fRps = median(f.map((r) => r.rps));
    const hRps = median(h.map((r) => r.rps));
    const fCpu = median(f.map((r) => r.cpuUs));
    const bRps = median(b.map((r) => r.rps));
    const bCpu = median(b.map((r) => r.cpuUs));
    const hCpu = hsPid !== undefined ? median(h.map((r) => r.cpuUs)) : undefined;
    const list = (rs, k, fmt = (x) => x) => rs.map((r) => fmt(r[k])).join(' / ');
    const errors = (rs) => rs.reduce((s, r) => s + r.errors, 0);
    return {
      title,
      table: [
        ['measure', 'fedpeer', 'homeserver', 'fedpeer / homeserver'],
        ['verified profile queries, req/s (median of rounds)', fRps, hRps, (fRps / hRps).toFixed(1)],
        ['  rounds', list(f, 'rps'), list(h, 'rps'), perRound.map((x) => x.toFixed(1)).join(' / ')],
        ['server CPU µs per request (median of rounds)', round1(fCpu), hCpu === undefined ? 'n/a (no HOMESERVER_PID)' : round1(hCpu), hCpu === undefined ? '' : `${(hCpu / fCpu).toFixed(1)} (as a rate)`],
        ['  rounds', list(f, 'cpuUs', round1), hCpu === undefined ? '' : list(h, 'cpuUs', round1), ''],
        ['latency p50 / p99, ms (median of rounds)', `${median(f.map((r) => r.p50))} / ${median(f.map((r) => r.p99))}`, `${median(h.map((r) => r.p50))} / ${median(h.map((r) => r.p99))}`, ''],
        ['errors (non-2xx, socket errors, timeouts)', errors(f), errors(h), ''],
        ['floor: bare node:https + libsodium, req/s / CPU µs per request (medians)', `${bRps} / ${round1(bCpu)}`, '', `fedpeer at ${(fRps / bRps).toFixed(2)} of its rate, ${(fCpu / bCpu).toFixed(2)} times its CPU`],
        ['  rounds (req/s; µs; errors)', `${list(b, 'rps')}; ${list(b, 'cpuUs', round1)}; ${errors(b)}`, '', ''],
        ['load generator busy (share of its core)', list(f, 'generatorBusy', (x) => x.toFixed(2)), list(h, 'generatorBusy', (x) => x.toFixed(2)), ''],
      ],
      notes: [
        `homeserver ${hsName} at ${hsUrl.origin}; fedpeer ${fedpeerName}; origin ${originName} (key ${key.keyId}, fetched by both on the first request)`,
        `${ROUNDS} rounds of ${SECONDS} s per server, alternating which goes first, ${CONNECTIONS} keep-alive connections, ${DISTINCT} distinct signed requests cycled per connection`,
        hsPid === undefined ? 'the homeserver was not pinned (no HOMESERVER_PID)' : mask ? `the homeserver's threads pinned to core ${process.env.BENCH_SERVER_CPU} for the rounds (affinity ${mask} restored after)` : 'the homeserver was not pinned (no BENCH_SERVER_CPU or taskset)',
        `load average (1 min) ${load0.toFixed(1)} at the start of the rounds, ${load1.toFixed(1)} at the end`,
        hCpu === undefined ? '' : `10 times the homeserver needs at most ${round1(hCpu / 10)} µs of server CPU per request; the floor (TLS, HTTP, one libsodium verification, a fixed answer) takes ${round1(bCpu)} µs, so the best ratio any Node server reaches here is ${(hCpu / bCpu).toFixed(1)}`,
        `CPU per request counts the whole process (all threads) between the start and end of each round; a generator near 1.00 busy means the rate was the generator's, not the server's`,
      ].filter(Boolean),
    };
  } finally {
    if (mask !== undefined) unpin(hsPid, mask);
    await bare.stop();
    await fedpeer.stop();
    await origin.stop();
  }
}
