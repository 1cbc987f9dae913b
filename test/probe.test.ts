// `fedpeer probe` against fedpeer itself, in-process on the private
// internet: every check passes, or says why it does not apply; without a
// room the room checks say they cannot run (test/probe-rooms.test.ts runs
// them). Then the report formats.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeWorld } from './harness/probe-world.js';
import type { ProbeReport, Verdict } from '../src/probe/types.js';
import { ALL_CHECKS } from '../src/probe/registry.js';
import { validateJsonSchema } from './harness/json-schema.js';

const schema = JSON.parse(readFileSync(new URL('../docs/probe-report.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;

const world = await probeWorld('probe');
t.teardown(() => world.close());
const target = await world.startTarget('target.test', 2);
t.teardown(() => target.close());

/** What fedpeer must get for each check that does not pass: without --room or a client token there is no room to run in. */
const NOT_PASSING: Record<string, Verdict> = Object.fromEntries(
  ALL_CHECKS.filter((c) => c.group === 'rooms' && c.id !== 'rooms.pdu-limit').map((c) => [c.id, 'could_not_run' as Verdict]),
);

let report: ProbeReport;

t.test('the probe against fedpeer: no check fails', async (t) => {
  const r = await world.probeJson('target.test');
  report = r.report;
  t.equal(r.code, 0, 'exit 0');
  t.equal(report.schema, 'fedpeer-probe/1');
  t.equal(report.target, 'target.test');
  t.equal(report.origin, 'probe.test');
  t.same(report.checks.map((c) => c.id), ALL_CHECKS.map((c) => c.id), 'every check, in registry order');
  for (const c of report.checks) {
    const want = NOT_PASSING[c.id] ?? 'pass';
    t.equal(c.verdict, want, `${c.id}: ${c.reason}`);
  }
  t.equal(report.summary.fail, 0);
  t.ok(report.ok);
  t.same(validateJsonSchema(schema, report), [], 'the report follows docs/probe-report.schema.json');
});

t.test('text report: summary, each check, exit 0', async (t) => {
  const r = await world.probe(['target.test', '--config', world.probeConfig, '--only', 'identity,errors.bad-json']);
  t.equal(r.code, 0);
  t.match(r.stdout, /^fedpeer probe target\.test as probe\.test: 7 passed, 0 failed, 0 not applicable, 0 could not run/);
  t.match(r.stdout, /\nidentity\n {2}PASS {2}identity\.server-name {2}The key document names the target\n {8}server_name is "target\.test"/);
  t.match(r.stdout, /\nerrors\n {2}PASS {2}errors\.bad-json/);
  t.match(r.stdout, /no check failed\n$/);
  t.notMatch(r.stdout, /auth\.|outbound\.|rooms\./);
});

t.test('TAP and JUnit for CI', async (t) => {
  const junit = join(world.dir, 'probe-junit.xml');
  const r = await world.probe(['target.test', '--config', world.probeConfig, '--tap', '--junit', junit, '--only', 'identity.version,errors.oversized-body,rooms.valid-event']);
  t.equal(r.code, 0);
  const lines = r.stdout.trimEnd().split('\n');
  t.equal(lines[0], 'TAP version 14');
  t.match(lines[1], /^# fedpeer probe target\.test as probe\.test: 2 passed/);
  t.equal(lines[2], '1..3');
  t.equal(lines[3], 'ok 1 - identity.version: /version answers with the server software');
  t.match(lines[4], /^ok 2 - errors\.oversized-body: [^#]*$/);
  t.match(lines[5], /^ok 3 - rooms\.valid-event: A valid event is accepted # SKIP could not run: no room to run in: give --room ALIAS_OR_ID/);
  const xml = readFileSync(junit, 'utf8');
  t.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="fedpeer probe target\.test as probe\.test" tests="3" failures="0" errors="0" skipped="1"/);
  t.match(xml, /<testsuite name="identity" tests="1" failures="0" errors="0" skipped="0"/);
  t.match(xml, /<testcase classname="fedpeer\.probe\.identity" name="identity\.version: \/version answers with the server software" time="[\d.]+"\/>/);
  t.match(xml, /<testcase classname="fedpeer\.probe\.rooms" name="rooms\.valid-event: A valid event is accepted" time="[\d.]+">\n {6}<skipped message="could not run: no room to run in: /);
});

t.test('without a room: the room checks say what to give, the PDU limit is judged on the answer alone', async (t) => {
  const { code, report } = await world.probeJson('target.test', ['--only', 'rooms']);
  t.equal(code, 0);
  t.equal(report.checks.length, 9);
  for (const c of report.checks.filter((c) => c.id !== 'rooms.pdu-limit')) t.match(c, { verdict: 'could_not_run', reason: /^no room to run in: give --room ALIAS_OR_ID .* or --access-token with --client-url/ });
  t.match(report.checks.find((c) => c.id === 'rooms.pdu-limit'), { verdict: 'pass', reason: /^refused with 400; sent for a room the target does not know, so only the answer is judged/ });
});

t.test('--untrusted-port 0: the certificate check says it could not run, and why', async (t) => {
  const { code, report } = await world.probeJson('target.test', ['--only', 'outbound.certificate-verification', '--untrusted-port', '0']);
  t.equal(code, 0);
  t.match(report.checks, [{ id: 'outbound.certificate-verification', verdict: 'could_not_run', reason: /turned off \(--untrusted-port 0\)/ }]);
});

t.test("--dns-listen: the probe's DNS server shows how the target resolved the probe", async (t) => {
  const dnsListen = `${world.addr(1, 53)}:53`;
  // This target asks the probe's DNS server, and only it.
  const other = await world.startTarget('dnsuser.test', 7, { federation_dns_servers: [dnsListen] });
  t.teardown(() => other.close());
  const { code, report } = await world.probeJson('dnsuser.test', ['--only', 'outbound', '--dns-listen', dnsListen]);
  t.equal(code, 0);
  const resolution = report.checks.find((c) => c.id === 'outbound.resolution')!;
  t.equal(resolution.verdict, 'pass', resolution.reason);
  // The addresses come first, for the well-known request itself; the SRV names follow it in the spec's order.
  // (asked at the same moment, so in either order)
  t.match(resolution.reason, /^(AAAA probe\.test, then A|A probe\.test, then AAAA) probe\.test, then GET https:\/\/probe\.test\/\.well-known\/matrix\/server \(404\), then SRV _matrix-fed\._tcp\.probe\.test, then SRV _matrix\._tcp\.probe\.test$/);
  t.match(resolution.observed, { dns_server: true, well_known_observable: true });
  for (const c of report.checks) t.equal(c.verdict, 'pass', `${c.id}: ${c.reason}`);
});

t.test('bad command lines: exit 2 with one line naming the cause', async (t) => {
  const cfg = ['--config', world.probeConfig];
  const cases: Array<[string[], RegExp]> = [
    [[], /^fedpeer probe: probe needs the server name to probe: fedpeer probe NAME \[options\]\n$/],
    [['target.test'], /^fedpeer probe: probe runs as the server of --config FILE/],
    [['not a name', ...cfg], /^fedpeer probe: not a valid server name: "not a name"/],
    [['target.test', ...cfg, '--json', '--tap'], /^fedpeer probe: --json and --tap both print the report: choose one/],
    [['target.test', ...cfg, '--only', 'auth,nope.check'], /^fedpeer probe: --only: unknown check id\(s\) "nope\.check"; known groups: identity, auth, errors, outbound, rooms; ids: identity\.server-name, /],
    [['target.test', ...cfg, '--untrusted-port', 'http'], /^fedpeer probe: --untrusted-port: expected a port number \(0-65535\), got "http"/],
    [['target.test', ...cfg, '--untrusted-port', '8448'], /^fedpeer probe: --untrusted-port 8448: the config's listeners already use port 8448; pick a free port/],
    [['target.test', ...cfg, '--dns-listen', 'localhost:53'], /^fedpeer probe: --dns-listen: expected an IP address with an optional port/],
    [['probe.test', ...cfg], /^fedpeer probe: the target probe\.test is the probe's own server_name/],
    [['target.test', ...cfg, '--junit', join(world.dir, 'no-such-dir', 'out.xml')], /^fedpeer probe: --junit: cannot write into .*no-such-dir \(ENOENT\)/],
    [['target.test', ...cfg, '--room', 'lobby'], /^fedpeer probe: --room: expected a room ID \(!id:server\) or alias \(#name:server\), got "lobby"/],
    [['target.test', ...cfg, '--access-token', 'tok'], /^fedpeer probe: --access-token needs --client-url URL, the target's client-server API/],
    [['target.test', ...cfg, '--client-url', 'http://127.0.0.1:8008'], /^fedpeer probe: --client-url needs an access token of a user of the target: --access-token TOKEN or FEDPEER_PROBE_ACCESS_TOKEN/],
    [['target.test', ...cfg, '--client-url', 'ftp://h', '--access-token', 'tok'], /^fedpeer probe: --client-url: expected an http or https URL, got "ftp:\/\/h"/],
    [['target.test', ...cfg, '--client-url', 'not a url', '--access-token', 'tok'], /^fedpeer probe: --client-url: expected an http or https URL such as http:\/\/127\.0\.0\.1:8008, got "not a url"/],
    [['target.test', ...cfg, '--client-url', 'http://h/?x=1', '--access-token', 'tok'], /^fedpeer probe: --client-url: expected a base URL without query or fragment/],
    [['target.test', ...cfg, '--user', '@u:h'], /^fedpeer probe: --user names the owner of --access-token: give --client-url URL and --access-token TOKEN with it/],
    [['target.test', ...cfg, '--client-url', 'http://h', '--access-token', 'tok', '--user', 'u'], /^fedpeer probe: --user: expected a user ID such as @alice:example\.org, got "u"/],
  ];
  for (const [args, message] of cases) {
    const r = await world.probe(args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, message, args.join(' '));
    t.equal(r.stderr.trimEnd().split('\n').length, 1, 'one line');
    t.equal(r.stdout, '');
  }
});

t.test("a port of the probe's config in use: one line saying what to do", async (t) => {
  const { createServer } = await import('node:net');
  for (const port of [8448, 8449]) {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, world.probeAddress, resolve));
    const r = await world.probe(['target.test', '--config', world.probeConfig]);
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    t.equal(r.code, 1);
    const fix =
      port === 8449
        ? "that is the untrusted identity's port: give --untrusted-port a free port \\(or 0 for none\\)"
        : 'the probe serves the listeners of --config while it runs: stop the server that uses them, or give the probe a config of its own';
    t.match(r.stderr, new RegExp(`^fedpeer probe: cannot listen on 127\\.110\\.1\\.1:${port}: another process already listens there \\(a second fedpeer\\?\\); ${fix}\\n$`));
  }
  // An address the machine does not have: no word of serve's --bind.
  const nowhere = world.probeConfigWith('probe-nowhere.yaml', { listeners: [{ port: 8448, bind_addresses: ['192.0.2.1'], tls: true, type: 'http', resources: [{ names: ['federation', 'keys'] }] }] });
  const r = await world.probe(['target.test', '--config', nowhere]);
  t.equal(r.code, 1);
  t.equal(r.stderr, "fedpeer probe: cannot listen on 192.0.2.1:8448: this machine has no such address; the probe serves the listeners of --config while it runs (the untrusted identity on their addresses): change them in its config\n");
  // Nothing of the failed runs is left listening.
  const { code } = await world.probeJson('target.test', ['--only', 'identity.version']);
  t.equal(code, 0);
});

t.test('--dns-listen forms', async (t) => {
  const { parseDnsListen } = await import('../src/commands/probe.js');
  t.same(parseDnsListen('127.110.1.53'), { address: '127.110.1.53', port: 53 });
  t.same(parseDnsListen('127.110.1.53:5353'), { address: '127.110.1.53', port: 5353 });
  t.same(parseDnsListen('[::1]:5353'), { address: '::1', port: 5353 });
  t.same(parseDnsListen('[::1]'), { address: '::1', port: 53 });
  t.same(parseDnsListen('::1'), { address: '::1', port: 53 });
});

t.test('a probe delegated by its well-known: the SNI and Host of the delegated name, no SRV lookups', async (t) => {
  const dnsListen = `${world.addr(1, 53)}:53`;
  const config = world.probeConfigWith('probe-delegated.yaml', { well_known_server: 'hs.probe.test:8448' });
  const fresh = await world.startTarget('fresh.test', 8, { federation_dns_servers: [dnsListen] });
  t.teardown(() => fresh.close());
  const r = await world.probe(['fresh.test', '--config', config, '--json', '--only', 'outbound', '--dns-listen', dnsListen]);
  const report = JSON.parse(r.stdout) as ProbeReport;
  t.equal(r.code, 0);
  const reasons = Object.fromEntries(report.checks.map((c) => [c.id, [c.verdict, c.reason]]));
  t.match(reasons, {
    'outbound.tls': ['pass', /^SNI hs\.probe\.test; TLS TLSv1\.[23]$/],
    'outbound.host-header': ['pass', 'Host hs.probe.test:8448'],
    'outbound.resolution': ['pass', /GET https:\/\/probe\.test\/\.well-known\/matrix\/server \(200\)$/],
    'outbound.key-fetch': ['pass'],
    'outbound.certificate-verification': ['pass'],
  });
});
