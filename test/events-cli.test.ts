// `fedpeer event sign|id|redact|verify`: in-process through the CLI entry
// point for every outcome, through the built binary (node dist/cli.js,
// which `npm test` builds first) for the pipeline a conformance suite runs,
// with Python's signing as the reference for `sign`, and `verify --config`
// fetching keys from a real fedpeer on 127.80.x.y.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli.js';
import type { CommandIO } from '../src/commands/io.js';
import { encodeBase64 } from '../src/matrix/base64.js';
import { formatSigningKeys, generateSigningKey } from '../src/matrix/signing-key.js';
import { buildPdu, eventCanonicalJson, roomVersion, signPdu, type Pdu } from '../src/matrix/events/index.js';
import { federationWorld } from './harness/federation.js';
import { startFixture } from './harness/server-fixture.js';
import { sampleEvent, sampleFields } from './harness/sample-events.js';
import { pyEvents } from './harness/python-oracle.js';
import { requireTool } from './harness/tools.js';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'fedpeer-events-cli-'));
const key = generateSigningKey('cli');
const keyFile = join(dir, 'signing.key');
writeFileSync(keyFile, formatSigningKeys([key]), { mode: 0o600 });
const V = (id: string) => roomVersion(id)!;

function run(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const io: CommandIO & { out: string; err: string } = {
    out: '',
    err: '',
    stdout: (s) => void (io.out += `${s}\n`),
    stderr: (s) => void (io.err += `${s}\n`),
    readStdin: async () => stdin,
  };
  return main(['event', ...args], io).then((code) => ({ code, out: io.out.trim(), err: io.err.trim() }));
}

function binary(args: string[], stdin: string): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, 'event', ...args], { input: stdin, encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout.trim(), err: r.stderr.trim() };
}

const unsignedEvent = (id: string, overrides = {}) => eventCanonicalJson(buildPdu(sampleFields(V(id), overrides), V(id)), false);
const pubArgs = ['--public-key', key.publicKeyBase64, '--key-id', key.keyId];

t.test('usage errors: one line naming the cause and the fix, exit 2', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /^fedpeer event: event needs a subcommand: fedpeer event sign, fedpeer event id, fedpeer event redact, fedpeer event verify\. Run "fedpeer event --help"\.$/],
    [['frobnicate'], /unknown event subcommand "frobnicate"/],
    [['id'], /^fedpeer event id: event id needs --room-version V \(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11\)$/],
    [['id', '--room-version', '12'], /--room-version: unknown room version "12"; fedpeer knows 1, 2, .*, 11$/],
    [['sign', '--room-version', '10'], /event sign needs --key FILE and --server-name NAME/],
    [['verify', '--room-version', '10'], /event verify needs keys: --public-key BASE64 --key-id ed25519:ID .* or --config FILE to fetch them/],
    [['verify', '--room-version', '10', '--public-key', key.publicKeyBase64], /--public-key needs --key-id ed25519:ID/],
    [['verify', '--room-version', '10', '--public-key', 'AAAA', '--key-id', 'ed25519:x'], /--public-key: an Ed25519 public key is 32 bytes, got 3/],
  ];
  for (const [args, message] of cases) {
    const r = await run(args, '{}');
    t.equal(r.code, 2, args.join(' '));
    t.match(r.err, message);
    t.equal(r.err.split('\n').length, 1, 'one line');
  }
});

t.test('bad input: exit 1 with the cause', async (t) => {
  const cases: Array<[string[], string, RegExp]> = [
    [['id', '--room-version', '10'], '{"a":', /^fedpeer event id: input is not valid JSON: /],
    [['id', '--room-version', '10'], '[1]', /input must be one event, a JSON object/],
    [['id', '--room-version', '1'], '{}', /invalid event: event_id: missing; room version 1 events carry their own ID/],
    [['redact', '--room-version', '10'], '{"type":"x","sender":"\\ud800"}', /input has no canonical JSON form: string contains a lone surrogate at sender/],
    [['sign', '--room-version', '10', '--key', join(dir, 'absent.key'), '--server-name', 'a.test'], '{}', /--key: cannot read .*absent\.key: ENOENT/],
  ];
  for (const [args, stdin, message] of cases) {
    const r = await run(args, stdin);
    t.equal(r.code, 1, `${args[0]}: ${stdin}`);
    t.match(r.err, message);
  }
  writeFileSync(join(dir, 'bad.key'), 'ed25519 x\n');
  const r = await run(['sign', '--room-version', '10', '--key', join(dir, 'bad.key'), '--server-name', 'a.test'], '{}');
  t.equal(r.code, 1);
  t.match(r.err, /bad\.key:1: expected "ed25519 <version> <base64 seed>"/);
});

t.test('sign, id, redact and verify in-process, every version', async (t) => {
  for (const id of ['1', '3', '5', '10', '11']) {
    const signed = await run(['sign', '--room-version', id, '--key', keyFile, '--server-name', 'origin.test'], unsignedEvent(id));
    t.equal(signed.code, 0, signed.err);
    const pdu = JSON.parse(signed.out) as Pdu;
    t.same(pdu, signPdu(JSON.parse(unsignedEvent(id)) as Pdu, V(id), 'origin.test', key), `v${id}: signPdu's result`);
    const eventId = await run(['id', '--room-version', id], signed.out);
    t.match(eventId.out, id === '1' ? /^\$sample:origin\.test$/ : id === '3' ? /^\$[A-Za-z0-9+/]{43}$/ : /^\$[A-Za-z0-9_-]{43}$/);
    const redacted = await run(['redact', '--room-version', id], signed.out);
    t.same((JSON.parse(redacted.out) as Pdu).content, {}, 'a message redacts to empty content');
    const ok = await run(['verify', '--room-version', id, ...pubArgs], signed.out);
    t.equal(ok.code, 0, ok.err);
    t.equal(ok.out, `valid: ${eventId.out} (room version ${id}): format, content hash and signatures (origin.test ${key.keyId})`);
  }
});

t.test('verify: each failure named', async (t) => {
  const signed = sampleEvent(V('10'), key);
  const text = (p: Pdu) => eventCanonicalJson(p, false);
  const cases: Array<[Pdu | string, string[], RegExp]> = [
    [{ ...signed, depth: 8 }, pubArgs, /^invalid: signature ed25519:cli of origin.test \(the server of the sender @alice:origin.test\) does not verify$/],
    [{ ...signed, content: { body: 'changed' } }, pubArgs, /^invalid: content hash: hashes.sha256 is "[^"]+", the event hashes to \S+ \(changed after signing, or redacted\)$/],
    [{ ...signed, depth: 'x' }, pubArgs, /^invalid: depth: must be an integer$/],
    [signed, [...pubArgs, '--server-name', 'someone.else'], /^invalid: no known key valid at origin_server_ts \d+ for any signature of origin.test/],
    [signed, ['--public-key', generateSigningKey().publicKeyBase64, '--key-id', key.keyId], /does not verify/],
  ];
  for (const [pdu, args, message] of cases) {
    const r = await run(['verify', '--room-version', '10', ...args], typeof pdu === 'string' ? pdu : text(pdu));
    t.equal(r.code, 1);
    t.match(r.err, message);
  }
  const tpi = sampleEvent(V('10'), key, { type: 'm.room.member', stateKey: '@carol:x.test', content: { membership: 'invite', third_party_invite: { signed: {} } } });
  const r = await run(['verify', '--room-version', '10', ...pubArgs], text(tpi));
  t.match(r.out, /^valid: .*no required signature \(third-party invite\)$/);
});

t.test('the built binary: sign -> id -> verify, and sign agrees with Python signedjson', async (t) => {
  if (!existsSync(CLI)) {
    t.fail(`${CLI} missing: run npm run build (npm test does)`);
    return;
  }
  for (const id of ['2', '4', '11']) {
    const input = unsignedEvent(id, { content: { body: 'binary', n: 1 } });
    const signed = binary(['sign', '--room-version', id, '--key', keyFile, '--server-name', 'origin.test'], input);
    t.equal(signed.code, 0, signed.err);
    const eventId = binary(['id', '--room-version', id], signed.out);
    t.equal(eventId.code, 0);
    const verified = binary(['verify', '--room-version', id, ...pubArgs], signed.out);
    t.equal(verified.out, `valid: ${eventId.out} (room version ${id}): format, content hash and signatures (origin.test ${key.keyId})`);
    const tampered = binary(['verify', '--room-version', id, ...pubArgs], signed.out.replace('"binary"', '"tampered"'));
    t.equal(tampered.code, 1);
    t.match(tampered.err, /^invalid: content hash/);
    if (requireTool(t, 'python-oracle')) {
      const [py, pySigned] = pyEvents(id, [{ text: input, serverName: 'origin.test' }, { text: signed.out, serverName: 'origin.test' }], { seed: encodeBase64(key.seed), keyVersion: key.version });
      const pdu = JSON.parse(signed.out) as { hashes: { sha256: string }; signatures: Record<string, Record<string, string>> };
      t.equal(pdu.hashes.sha256, py!.content_hash, `v${id}: hash as Python computes it`);
      t.equal(pdu.signatures['origin.test']![key.keyId], py!.signature, `v${id}: signature as signedjson makes it`);
      t.equal(eventId.out, pySigned!.event_id, `v${id}: the ID Python computes`);
    }
  }
  const usage = binary(['id'], '{}');
  t.equal(usage.code, 2);
  t.match(usage.err, /^fedpeer event id: event id needs --room-version V/);
  const lenient = binary(['sign', '--room-version', '3', '--key', keyFile, '--server-name', 'origin.test'], unsignedEvent('3').replace('"depth":7', '"depth":7,"f":1.0,"big":123456789012345678901'));
  t.match(lenient.out, /"big":123456789012345678901,.*"f":1\.0/, 'v1-5 numbers printed as Python writes them');
});

t.test('verify --config: keys fetched from the sender\'s server through the key store, and cached under data_dir', async (t) => {
  const world = await federationWorld('events-cli');
  t.teardown(() => world.close());
  world.dns.set('keys.events.test', 'A', world.addr(1, 1));
  const fixture = await startFixture({ address: world.addr(1, 1), serverName: 'keys.events.test', certNames: ['keys.events.test'], raw: { federation_custom_ca_list: [world.caFile] } });
  t.teardown(() => fixture.close());
  const dataDir = join(dir, 'data');
  const config = join(dir, 'homeserver.yaml');
  writeFileSync(
    config,
    `server_name: verifier.test\nsigning_key_path: ${keyFile}\ndata_dir: ${dataDir}\nfederation_custom_ca_list: ['${world.caFile}']\nfederation_dns_servers: ['${world.dns.hostPort}']\nip_range_whitelist: ['${world.addr(0, 0)}/16']\n`,
  );
  const v = V('10');
  const signed = signPdu(buildPdu(sampleFields(v, { sender: '@bob:keys.events.test', roomId: '!r:keys.events.test' }), v), v, 'keys.events.test', fixture.key);
  const text = eventCanonicalJson(signed, false);
  const r = await run(['verify', '--room-version', '10', '--config', config], text);
  t.equal(r.code, 0, r.err);
  t.match(r.out, new RegExp(`^valid: \\$\\S+ \\(room version 10\\): format, content hash and signatures \\(keys.events.test ${fixture.key.keyId}\\)$`));
  t.ok(existsSync(join(dataDir, 'server-keys.json')), 'the key cache is kept under data_dir');

  // Signed by a key the server does not publish.
  const stranger = signPdu(buildPdu(sampleFields(v, { sender: '@bob:keys.events.test' }), v), v, 'keys.events.test', generateSigningKey('nope'));
  const bad = await run(['verify', '--room-version', '10', '--config', config], eventCanonicalJson(stranger, false));
  t.equal(bad.code, 1);
  t.match(bad.err, /^invalid: no known key valid at origin_server_ts \d+ for any signature of keys.events.test .*: ed25519:nope$/);

  // A server nobody can reach.
  const lost = signPdu(buildPdu(sampleFields(v, { sender: '@x:nowhere.events.test' }), v), v, 'nowhere.events.test', key);
  const none = await run(['verify', '--room-version', '10', '--config', config], eventCanonicalJson(lost, false));
  t.equal(none.code, 1);
  t.match(none.err, /^invalid: no keys for nowhere.events.test: /);

  // The same through the binary (a fresh process reads the key cache).
  const viaBinary = binary(['verify', '--room-version', '10', '--config', config], text);
  t.equal(viaBinary.code, 0, viaBinary.err);
});
