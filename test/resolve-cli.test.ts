// `fedpeer resolve`, run in-process through the CLI entry point against the
// test DNS server and a well-known server on 127.24.x.y.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../src/cli.js';
import type { CommandIO } from '../src/commands/io.js';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer } from './harness/https-server.js';

const world = await federationWorld('resolve-cli');
const { dns, pki, addr } = world;
t.teardown(() => world.close());

function capture(): CommandIO & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout: (s: string) => void (io.out += `${s}\n`),
    stderr: (s: string) => void (io.err += `${s}\n`),
    readStdin: async () => '',
  };
  return io;
}

// A config that lets this file's block through the default blocklist.
const cfg = join(world.dir, 'homeserver.yaml');
writeFileSync(cfg, `server_name: me.test\nsigning_key_path: unused.key\nip_range_whitelist: ['127.24.0.0/16']\nfederation_dns_servers: ['${dns.hostPort}']\n`);

const leaf = await pki.leaf(['cli.test']);
const wk = await startHttpsServer({
  address: addr(1, 1),
  port: 443,
  certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem },
  handler: (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"m.server":"hs.cli.test"}'),
});
t.teardown(() => wk.close());
dns.set('cli.test', 'A', addr(1, 1));
dns.set('_matrix-fed._tcp.hs.cli.test', 'SRV', { priority: 0, weight: 0, port: 8448, target: 'box.cli.test' });
dns.set('box.cli.test', 'A', addr(1, 2));

t.test('--json: targets with exactly address, port, host, tls_name, route; steps', async (t) => {
  const io = capture();
  const code = await main(['resolve', 'cli.test', '--json', '--config', cfg, '--ca-file', world.caFile], io);
  t.equal(code, 0, io.err);
  const out = JSON.parse(io.out) as Record<string, unknown>;
  t.same(out.targets, [{ address: addr(1, 2), port: 8448, host: 'hs.cli.test', tls_name: 'hs.cli.test', route: null }]);
  t.same(Object.keys((out.targets as object[])[0]!), ['address', 'port', 'host', 'tls_name', 'route']);
  t.equal(out.delegated_server, 'hs.cli.test');
  t.same((out.steps as Array<{ step: string }>).map((s) => s.step), ['well-known', 'srv', 'srv-target']);
  for (const s of out.steps as object[]) t.same(Object.keys(s), ['step', 'lookup', 'outcome', 'detail', 'cached']);
  t.equal(out.error, null);
  t.match(out.trust as string, /1 CA certificates from federation_custom_ca_list/);
});

t.test('text form: steps and targets with Host and certificate name', async (t) => {
  const io = capture();
  const code = await main(['resolve', 'cli.test', '--config', cfg, '--dns-server', dns.hostPort, '--ca-file', world.caFile], io);
  t.equal(code, 0);
  t.match(io.out, /Resolving cli\.test \(DNS: 127\.24\.0\.53:\d+\)/);
  t.match(io.out, /1\. well-known: https:\/\/cli\.test\/\.well-known\/matrix\/server: found/);
  t.match(io.out, /_matrix-fed\._tcp\.hs\.cli\.test: found/);
  t.match(io.out, new RegExp(`1\\. ${addr(1, 2).replace(/\./g, '\\.')}:8448  Host: hs\\.cli\\.test  certificate for: hs\\.cli\\.test \\(SNI hs\\.cli\\.test\\)`));
  t.match(io.out, /Delegated by well-known to hs\.cli\.test/);
});

t.test('IP literal in text form: no SNI', async (t) => {
  const io = capture();
  t.equal(await main(['resolve', `[::1]:8448`, '--config', cfg], io), 1, '::1 is blocked by default');
  t.match(io.out, /FAILED blocklist: ip_range_blacklist/);
  const ok = capture();
  t.equal(await main(['resolve', `${addr(2, 2)}`, '--config', cfg], ok), 0);
  t.match(ok.out, /certificate for: 127\.24\.2\.2 \(no SNI\)/);
});

t.test('failure: exit 1, the error and the steps taken', async (t) => {
  dns.set('_matrix-fed._tcp.off.test', 'SRV', { priority: 0, weight: 0, port: 0, target: '.' });
  const io = capture();
  const code = await main(['resolve', 'off.test', '--json', '--config', cfg], io);
  t.equal(code, 1);
  const out = JSON.parse(io.out) as { targets: unknown[]; steps: Array<{ step: string }>; error: { step: string; check: string } };
  t.same(out.targets, []);
  t.match(out.error, { step: 'srv', check: 'service-unavailable' });
  t.same(out.steps.map((s) => s.step), ['well-known', 'srv']);
});

t.test('usage errors', async (t) => {
  const none = capture();
  t.equal(await main(['resolve'], none), 2);
  t.match(none.err, /needs a server name/);
  const bad = capture();
  t.equal(await main(['resolve', 'x.test', '--dns-server', 'nope'], bad), 2);
  t.match(bad.err, /--dns-server: expected an IP address/);
  const help = capture();
  await main(['help'], help);
  t.match(help.out, /resolve NAME \[--json\]/);
});
