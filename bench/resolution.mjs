// Server name resolution: how fast a cached resolution is, and whether 1,000
// concurrent resolutions of one uncached name cost exactly one well-known
// fetch and one DNS query per record (counted at the test DNS and HTTPS
// servers). Uses the test harness (TypeScript, loaded through tap's ts-node)
// for the DNS server, the test CA and the HTTPS server; the code measured is
// the built dist/. Everything on 127.70.2.x.
import { register } from 'node:module';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

process.env.TS_NODE_TRANSPILE_ONLY ??= '1';
register('@isaacs/ts-node-temp-fork-for-pr-2009/esm', pathToFileURL(`${process.cwd()}/`));

const ADDR = (d) => `127.70.2.${d}`;
const CACHED_SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENT = 1000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

export async function run() {
  const { startDnsServer } = await import('../test/harness/dns-server.ts');
  const { startHttpsServer } = await import('../test/harness/https-server.ts');
  const { makeTestPki } = await import('../test/harness/test-ca.ts');
  const { defaultConfig } = await import('../dist/config/load.js');
  const { createFederationClient } = await import('../dist/federation/client.js');

  const pki = await makeTestPki();
  const names = ['bench.test', ...Array.from({ length: ROUNDS }, (_, i) => `fresh${i}.test`)];
  const leaf = await pki.leaf(names);
  const dns = await startDnsServer({ address: ADDR(53) });
  const wk = await startHttpsServer({
    address: ADDR(1),
    port: 443,
    certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem },
    handler: (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ 'm.server': `hs.${req.headers.host}` }));
    },
  });
  for (const name of names) {
    dns.set(name, 'A', ADDR(1));
    dns.set(`_matrix-fed._tcp.hs.${name}`, 'SRV', { priority: 0, weight: 0, port: 8448, target: `box.${name}` });
    dns.set(`box.${name}`, 'A', ADDR(2));
    dns.set(`box.${name}`, 'AAAA', '::1');
  }
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-bench-resolution-'));
  writeFileSync(join(dir, 'ca.pem'), pki.root.certPem);
  const config = defaultConfig({
    baseDir: dir,
    raw: { federation_custom_ca_list: [join(dir, 'ca.pem')], federation_dns_servers: [dns.hostPort], ip_range_whitelist: ['127.70.2.0/24', '::1/128'] },
  });

  // Cached: one warm-up, then sequential resolutions for a fixed time.
  const cachedClient = await createFederationClient({ config });
  const first = await cachedClient.resolveServerName('bench.test');
  dns.resetCounts();
  const fetchesBefore = wk.requests.length;
  let ops = 0;
  const until = performance.now() + CACHED_SECONDS * 1000;
  while (performance.now() < until) {
    for (let i = 0; i < 100; i++) await cachedClient.resolveServerName('bench.test');
    ops += 100;
  }
  const opsPerSec = Math.round(ops / CACHED_SECONDS);
  const cachedTraffic = dns.received.length + (wk.requests.length - fetchesBefore);
  cachedClient.close();

  // Uncached: a fresh client per round, 1,000 resolutions at once.
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const name = `fresh${r}.test`;
    const client = await createFederationClient({ config });
    dns.resetCounts();
    const before = wk.requests.filter((q) => q.host === name).length;
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: CONCURRENT }, () => client.resolveServerName(name)));
    const ms = performance.now() - started;
    const perRecord = {};
    for (const q of dns.received) perRecord[`${q.name} ${q.type}`] = (perRecord[`${q.name} ${q.type}`] ?? 0) + 1;
    rounds.push({
      name,
      ms: Math.round(ms),
      fetches: wk.requests.filter((q) => q.host === name).length - before,
      perRecord,
      agree: results.every((x) => JSON.stringify(x.targets) === JSON.stringify(results[0].targets)),
    });
    client.close();
  }
  await wk.close();
  await dns.close();

  const records = Object.keys(rounds[0].perRecord).sort();
  const table = [
    ['measure', 'result'],
    ['cached resolutions per second (sequential, one name, well-known + SRV + AAAA/A all cached)', opsPerSec.toLocaleString('en')],
    ['network traffic during the cached run (DNS queries + HTTPS fetches)', cachedTraffic],
    ...rounds.map((x) => [
      `${CONCURRENT} concurrent uncached resolutions of ${x.name}: time / well-known fetches / DNS queries per record`,
      `${x.ms} ms / ${x.fetches} / ${Object.values(x.perRecord).join(', ')} (${Object.keys(x.perRecord).length} records)${x.agree ? '' : ' / RESULTS DIFFER'}`,
    ]),
  ];
  const exact = rounds.every((x) => x.fetches === 1 && Object.values(x.perRecord).every((n) => n === 1));
  return {
    title: 'Server name resolution',
    table,
    notes: [
      `resolution: well-known on ${ADDR(1)}:443 -> m.server hs.<name> -> _matrix-fed._tcp SRV -> box.<name> AAAA ::1, A ${ADDR(2)}; ${first.targets.length} targets`,
      `records queried per uncached resolution: ${records.join(', ')}`,
      `exactly one well-known fetch and one query per record in every round: **${exact ? 'yes' : 'NO'}**`,
    ],
    exact,
  };
}
