// `fedpeer room ...` against a fedpeer started from a homeserver.yaml with a
// `type: control` listener, while a second fedpeer (the library) federates
// with it: in-process through the CLI entry point for every outcome, and
// through the built binaries (`fedpeer serve` and `fedpeer room`, which
// `npm test` builds first) for the way a shell script runs them. Also the
// token file under data_dir and the errors that name their fix.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, statSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli.js';
import type { CommandIO } from '../src/commands/io.js';
import { loadConfig } from '../src/config/load.js';
import { startServer, type RunningServer } from '../src/commands/serve.js';
import { formatSigningKeys, generateSigningKey } from '../src/matrix/signing-key.js';
import { issueCertificate } from '../src/server/dev-ca.js';
import { startPeer, createDevCa } from '../src/index.js';
import { block } from './harness/addresses.js';
import { captureLogger } from './harness/server-fixture.js';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const addr = block('control-cli');
const ca = await createDevCa();
const B = await startPeer({ ca, bind: addr(2, 1), users: { bob: {} }, queueRetry: { initialMs: 100 } });
t.teardown(() => B.close());
const bob = `@bob:${B.serverName}`;

/** A homeserver.yaml for a fedpeer on `address`, its files beside it; `extra` adds or replaces keys. */
async function writeConfig(address: string, extra: Record<string, unknown> = {}, listeners?: unknown[]): Promise<{ file: string; dir: string; serverName: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-control-cli-'));
  const serverName = `${address}:8448`;
  const leaf = await issueCertificate(ca, { ipAddresses: [address], notBefore: new Date(Date.now() - 3600_000) });
  writeFileSync(join(dir, 'signing.key'), formatSigningKeys([generateSigningKey()]), { mode: 0o600 });
  writeFileSync(join(dir, 'tls.crt'), leaf.certPem);
  writeFileSync(join(dir, 'tls.key'), leaf.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  const config = {
    server_name: serverName,
    signing_key_path: 'signing.key',
    tls_certificate_path: 'tls.crt',
    tls_private_key_path: 'tls.key',
    federation_custom_ca_list: ['ca.crt'],
    ip_range_whitelist: [`${address.split('.').slice(0, 2).join('.')}.0.0/16`],
    data_dir: 'data',
    // Short, so the long-polls below outlast it: a request being worked on is not a silent connection.
    limits: { connection_timeout: 1000 },
    test_users: { [`@alice:${serverName}`]: { displayname: 'Alice' }, [`@amy:${serverName}`]: {} },
    listeners: listeners ?? [
      { port: 8448, bind_addresses: [address], tls: true, type: 'http', resources: [{ names: ['federation'] }] },
      { port: 8009, bind_addresses: [address], type: 'control' },
    ],
    ...extra,
  };
  const file = join(dir, 'homeserver.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, dir, serverName };
}

async function serve(file: string): Promise<{ server: RunningServer; log: ReturnType<typeof captureLogger> }> {
  const log = captureLogger();
  const server = await startServer(await loadConfig(file), { logger: log.logger, accessLog: log.accessLog, watchCertificates: false });
  return { server, log };
}

function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io: CommandIO & { out: string; err: string } = {
    out: '',
    err: '',
    stdout: (s) => void (io.out += `${s}\n`),
    stderr: (s) => void (io.err += `${s}\n`),
    readStdin: async () => '',
  };
  return main(args, io).then((code) => ({ code, out: io.out.trim(), err: io.err.trim() }));
}

const A = await writeConfig(addr(1, 1));
const served = await serve(A.file);
t.teardown(() => served.server.close(1000));
const alice = `@alice:${A.serverName}`;
const room = (...args: string[]) => run(['room', ...args.slice(0, 1), '--config', A.file, ...args.slice(1)]);

t.test('fedpeer serve makes the token under data_dir (0600), keeps it, never logs it', async (t) => {
  const tokenFile = join(A.dir, 'data', 'control.token');
  const token = readFileSync(tokenFile, 'utf8').trim();
  t.match(token, /^[A-Za-z0-9_-]{43}$/);
  t.equal(statSync(tokenFile).mode & 0o777, 0o600);
  t.equal(served.server.control?.token, token);
  t.notOk(served.log.raw().includes(token), 'not in the log');
  t.ok(served.log.lines().some((l) => l.msg === 'listening' && l.type === 'control' && (l.address as { address: string }).address === addr(1, 1)), 'the control listener is logged (without the token)');
  const check = await run(['config', 'check', A.file]);
  t.match(check.out, new RegExp(`http  ${addr(1, 1).replace(/\./g, '\\.')}:8009  control API`));
});

t.test('create, join, send, invite, leave and events from the shell', async (t) => {
  const created = await room('create', '--as', 'alice', '--alias', 'shell', '--room-version', '9');
  t.same({ code: created.code, err: created.err }, { code: 0, err: '' });
  const roomId = created.out;
  t.match(roomId, new RegExp(`^!.+:${A.serverName.replace(/\./g, '\\.')}$`));
  t.equal(served.server.rooms.data.version(roomId).id, '9');
  const joined = await B.join(bob, `#shell:${A.serverName}`);
  t.equal(joined.roomId, roomId);

  const sent = await room('send', '--as', alice, roomId, 'hello from the shell');
  t.equal(sent.code, 0);
  t.match(sent.out, /^\$[A-Za-z0-9_-]{43}$/, 'prints the event ID');
  await B.waitForEvent(roomId, (e) => e.eventId === sent.out, { timeout: 5000 });

  const waited = room('events', roomId, '--wait-for-body', 'hi from B', '--timeout', '10');
  await new Promise((r) => setTimeout(r, 2500));
  await B.send(bob, roomId, 'hi from B');
  const w = await waited;
  t.equal(w.code, 0, 'exits 0 once the body is there');
  t.match(w.out, new RegExp(`${bob.replace(/\./g, '\\.')} m.room.message "hi from B"$`));
  const missing = await room('events', roomId, '--wait-for-body', 'never said', '--timeout', '0.3');
  t.same(missing, { code: 1, out: '', err: `fedpeer room events: no event with body "never said" in ${roomId} within 0.3 s` });

  const text = await room('events', roomId);
  t.equal(text.code, 0);
  const lines = text.out.split('\n');
  t.equal(lines.length, served.server.rooms.events(roomId).length, 'one line per event');
  t.match(lines[0], / m\.room\.create \[\] \{"creator":/);
  t.match(lines[1], new RegExp(` m\\.room\\.member \\[${alice.replace(/\./g, '\\.')}\\] join$`));
  t.match(lines.at(-1), /^\d{4}-\d\d-\d\dT.+Z \$\S+ @bob:\S+ m\.room\.message "hi from B"$/);
  const json = await room('events', roomId, '--json');
  const events = JSON.parse(json.out) as Array<{ event_id: string; status: string }>;
  t.same(events.map((e) => e.event_id), served.server.rooms.events(roomId).map((e) => e.eventId));
  t.ok(events.every((e) => e.status === 'accepted'));

  const closed = await room('create', '--as', 'alice', '--invite-only');
  t.equal(closed.code, 0);
  t.match(await B.join(bob, closed.out).catch((e) => e), { status: 403 }, '--invite-only');
  const invited = await room('invite', '--as', 'alice', closed.out, bob);
  t.equal(invited.code, 0);
  t.match(invited.out, /^\$/);
  const bobJoin = await B.join(bob, closed.out);
  await served.server.rooms.waitForEvent(closed.out, (e) => e.eventId === bobJoin.eventId, { timeout: 5000 });

  const theirs = await B.createRoom({ creator: bob, alias: 'bobs' });
  const amy = await room('join', '--as', 'amy', `#bobs:${B.serverName}`);
  t.same(amy, { code: 0, out: theirs.roomId, err: '' }, 'join by alias prints the room ID');
  const other = await B.createRoom({ creator: bob });
  const viaJoin = await room('join', '--as', 'alice', other.roomId, '--via', B.serverName, '--via', 'unreachable.invalid');
  t.same(viaJoin, { code: 0, out: other.roomId, err: '' });
  const left = await room('leave', '--as', 'amy', theirs.roomId);
  t.equal(left.code, 0);
  await B.waitForEvent(theirs.roomId, (e) => e.eventId === left.out, { timeout: 5000 });
  t.equal(B.state(theirs.roomId).find((s) => s.stateKey === `@amy:${A.serverName}`)?.content.membership, 'leave');
});

t.test('a long timeline comes in pages', async (t) => {
  const { out: roomId } = await room('create', '--as', 'alice');
  for (let i = 0; i < 120; i++) await served.server.rooms.send(alice, roomId, `m${i}`);
  const json = await room('events', roomId, '--json');
  const bodies = (JSON.parse(json.out) as Array<{ content: { body?: string } }>).flatMap((e) => e.content.body ?? []);
  t.same(bodies, Array.from({ length: 120 }, (_, i) => `m${i}`));
});

t.test('errors: one line with the cause and the fix', async (t) => {
  const cases: Array<[string[], number, RegExp]> = [
    [['room'], 2, /^fedpeer room: room needs a subcommand: fedpeer room create, fedpeer room join, .*fedpeer room events\. Run "fedpeer room --help"\.$/],
    [['room', 'dance', '--config', A.file], 2, /^fedpeer room: unknown room subcommand "dance"; room has: create, join, send, invite, leave, events$/],
    [['room', 'evnts', A.file], 2, /unknown room subcommand "evnts" \(did you mean "events"\?\)/],
    [['room', 'create', '--as', 'alice'], 2, /^fedpeer room create: --config FILE is required: the homeserver\.yaml of the running fedpeer serve, whose control listener the command calls\. Run "fedpeer room create --help" for its usage\.$/],
    [['room', 'create', '--config', A.file], 2, /^fedpeer room create: --as USER is required: the local user acting \(a test_users entry, or its local part\)\./],
    [['room', 'send', '--config', A.file, '--as', 'alice', '!r:x'], 2, /^fedpeer room send: room send needs the TEXT to send: fedpeer room send ROOM_ID TEXT \[options\]$/],
    [['room', 'join', '--config', A.file, '--as', 'alice'], 2, /^fedpeer room join: room join needs the ROOM_ID_OR_ALIAS to join/],
    [['room', 'create', '--config', A.file, '--as', 'alice', 'extra'], 2, /^fedpeer room create: unexpected argument "extra": fedpeer room create \[options\]$/],
    [['room', 'create', '--config', A.file, '--as', 'alice', '--invite'], 2, /^fedpeer room create: unknown option --invite \(did you mean --invite-only\?\)/],
    [['room', 'events', '--config', A.file, '!r:x', '--as', 'alice'], 2, /^fedpeer room events: unknown option --as\. room events takes: --config FILE, --json, --wait-for-body TEXT, --timeout SECONDS, --help\./],
    [['room', 'send', '--config', A.file, '--as', 'alice', '--as', 'amy', '!r:x', 'hi'], 2, /--as given twice; it takes one value/],
    [['room', 'events', '--config', A.file, '!r:x', '--timeout', '3'], 2, /^fedpeer room events: --timeout goes with --wait-for-body TEXT \(how long to wait for it\)\./],
    [['room', 'events', '--config', A.file, '!r:x', '--wait-for-body', 'x', '--timeout', 'soon'], 2, /--timeout: expected seconds from 0 to 86400, got "soon"/],
    [['room', 'send', '--config', A.file, '--as', 'alice', '!r:x', 'hi'], 1, /^fedpeer room send: M_NOT_FOUND: Unknown room !r:x$/],
    [['room', 'create', '--config', A.file, '--as', 'mallory'], 1, /^fedpeer room create: M_INVALID_PARAM: as: @mallory:\S+ is not a local user/],
    [['room', 'create', '--config', join(A.dir, 'missing.yaml'), '--as', 'alice'], 1, /^fedpeer room create: cannot use \S+missing.yaml: /],
  ];
  for (const [args, code, message] of cases) {
    const r = await run(args);
    t.equal(r.code, code, args.join(' '));
    t.match(r.err, message, args.join(' '));
    t.equal(r.err.includes('    at '), false, 'no stack');
  }

  const noControl = await writeConfig(addr(3, 1), {}, [{ port: 8448, bind_addresses: [addr(3, 1)], tls: true, type: 'http', resources: [{ names: ['federation'] }] }]);
  t.match((await run(['room', 'events', '--config', noControl.file, '!r:x'])).err, `fedpeer room events: no control listener in ${noControl.file}: add \`- {type: control, port: 8009}\` to listeners (docs/CONTROL.md) and restart fedpeer serve`);

  const tls = await writeConfig(addr(3, 2), {}, [{ port: 8009, bind_addresses: [addr(3, 2)], tls: true, type: 'control' }]);
  t.match((await run(['room', 'events', '--config', tls.file, '!r:x'])).err, /has tls: true, and fedpeer room speaks plain HTTP: set tls: false/);

  const neverStarted = await writeConfig(addr(3, 3));
  t.match((await run(['room', 'events', '--config', neverStarted.file, '!r:x'])).err, new RegExp(`no control token yet \\(\\S+control.token\\): start the server once with fedpeer serve --config ${neverStarted.file.replace(/\./g, '\\.')}, or set control_token`));

  const stopped = await writeConfig(addr(3, 4), { control_token: 'a-token-of-sixteen-or-more' });
  t.match((await run(['room', 'events', '--config', stopped.file, '!r:x'])).err, `fedpeer room events: the server is not running at ${addr(3, 4)}:8009: start it with fedpeer serve --config ${stopped.file}`);

  // The same listener as A's, but another token: as if A had been started from another config.
  const otherToken = await writeConfig(addr(1, 1), { control_token: 'not-the-token-A-was-started-with' });
  t.match((await run(['room', 'events', '--config', otherToken.file, '!r:x'])).err, new RegExp(`the server at ${addr(1, 1).replace(/\./g, '\\.')}:8009 refused the control token \\(M_UNKNOWN_TOKEN\\): it was started with another control_token or data_dir`));

  const unreadable = await writeConfig(addr(3, 5));
  rmSync(join(unreadable.dir, 'data'), { recursive: true, force: true });
  writeFileSync(join(unreadable.dir, 'data'), '');
  t.match((await run(['room', 'events', '--config', unreadable.file, '!r:x'])).err, /cannot read the control token \S+ \(ENOTDIR\): run as the user that runs fedpeer serve, or set control_token/);
});

t.test('help: the room command and each subcommand, with an example', async (t) => {
  const top = await run(['room', '--help']);
  t.equal(top.code, 0);
  for (const sub of ['create', 'join', 'send', 'invite', 'leave', 'events']) t.match(top.out, new RegExp(`^  ${sub} `, 'm'), `room --help lists ${sub}`);
  const pages: Array<[string, RegExp]> = [
    ['create', /Example:\n {2}fedpeer room create --config fedpeer\.yaml --as alice --alias lobby --room-version 9$/],
    ['join', /--via SERVER \(repeatable\)/],
    ['send', /Usage: fedpeer room send ROOM_ID TEXT \[options\]/],
    ['invite', /USER_ID {19}the USER_ID to invite \(@name:server\)/],
    ['leave', /Example:\n {2}fedpeer room leave /],
    ['events', /Examples:\n {2}fedpeer room events .* --json\n {2}fedpeer room events .* --wait-for-body 'hello fedpeer' --timeout 30$/],
  ];
  for (const [sub, page] of pages) {
    const help = await run(['room', sub, '--help']);
    t.same({ code: help.code, err: help.err }, { code: 0, err: '' }, `room ${sub} --help`);
    t.match(help.out, page, `room ${sub} --help`);
    t.match(help.out, /-c, --config FILE {9}The homeserver\.yaml of the running fedpeer serve/);
    t.same(await run(['help', 'room', sub]), help, `help room ${sub} is the same page`);
  }
  t.match((await run(['--help'])).out, /^ {2}room events ROOM_ID \[--config FILE\] \[--json\]/m, 'the overview lists the subcommands');
});

t.test('control_token from the config; a short one is refused', async (t) => {
  const own = await writeConfig(addr(4, 1), { control_token: 'my-own-control-token-123' });
  const s = await serve(own.file);
  t.teardown(() => s.server.close(1000));
  t.equal(s.server.control?.token, 'my-own-control-token-123');
  t.notOk(existsSync(join(own.dir, 'data', 'control.token')), 'no file when the config has the token');
  t.same((await run(['room', 'create', '--config', own.file, '--as', 'alice'])).code, 0);
  const short = await writeConfig(addr(4, 2), { control_token: 'short' });
  await t.rejects(loadConfig(short.file), { message: /control_token: expected at least 16 visible ASCII characters/ });
  const defaults = await writeConfig(addr(4, 3), {}, [{ port: 8009, type: 'control' }]);
  const config = await loadConfig(defaults.file);
  t.same(config.listeners[0], { kind: 'tcp', type: 'control', port: 8009, bindAddresses: ['127.0.0.1'], tls: false, xForwarded: false, resources: [] }, 'loopback unless bind_addresses says otherwise');
  t.equal(Object.keys(await loadConfig(own.file)).includes('controlToken'), false, 'the token is not enumerable');
});

t.test('a control listener on a Unix socket; something else on the port', async (t) => {
  const U = await writeConfig(addr(6, 1));
  const config = JSON.parse(readFileSync(U.file, 'utf8'));
  config.listeners[1] = { path: join(U.dir, 'control.sock'), type: 'control' };
  writeFileSync(U.file, JSON.stringify(config));
  const s = await serve(U.file);
  t.teardown(() => s.server.close(1000));
  const created = await run(['room', 'create', '--config', U.file, '--as', 'alice']);
  t.equal(created.code, 0, created.err);
  t.ok(s.server.rooms.rooms().includes(created.out));

  const http = await import('node:http');
  const html = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>'));
  await new Promise<void>((r) => html.listen(8009, addr(6, 2), r));
  t.teardown(() => new Promise((r) => html.close(r)));
  const other = await writeConfig(addr(6, 2), { control_token: 'some-token-of-16-chars' });
  t.match((await run(['room', 'events', '--config', other.file, '!r:x'])).err, `fedpeer room events: ${addr(6, 2)}:8009 is not a fedpeer control API (answered 200 without JSON): check the control listener in the config`);
});

t.test('the built binaries: fedpeer serve with a control listener, driven by fedpeer room', async (t) => {
  const C = await writeConfig(addr(5, 1));
  const child = spawn(process.execPath, [CLI, 'serve', '--config', C.file, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGTERM');
  });
  const t0 = Date.now();
  while (!stderr.includes('fedpeer: serving') && Date.now() - t0 < 30_000 && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  t.match(stderr, /fedpeer: serving .* on https:\/\/127\.121\.5\.1:8448, http:\/\/127\.121\.5\.1:8009/);
  const bin = (...args: string[]) => spawnSync(process.execPath, [CLI, 'room', ...args.slice(0, 1), '--config', C.file, ...args.slice(1)], { encoding: 'utf8', timeout: 60_000 });
  const created = bin('create', '--as', 'alice', '--alias', 'bin');
  t.equal(created.status, 0, created.stderr);
  const roomId = created.stdout.trim();
  await B.join(bob, `#bin:${C.serverName}`);
  const sent = bin('send', '--as', 'alice', roomId, 'from the binary');
  t.equal(sent.status, 0, sent.stderr);
  await B.waitForEvent(roomId, (e) => e.eventId === sent.stdout.trim(), { timeout: 5000 });
  const waitDone = new Promise<{ code: number | null; out: string }>((resolve) => {
    const w = spawn(process.execPath, [CLI, 'room', 'events', '--config', C.file, roomId, '--wait-for-body', 'answer', '--timeout', '20']);
    let out = '';
    w.stdout.on('data', (d) => (out += d));
    w.on('exit', (code) => resolve({ code, out }));
  });
  await new Promise((r) => setTimeout(r, 300));
  await B.send(bob, roomId, 'answer');
  const waited = await waitDone;
  t.equal(waited.code, 0);
  t.match(waited.out, /"answer"/);
  t.equal(bin('events', roomId, '--wait-for-body', 'nobody', '--timeout', '0.2').status, 1);
  const help = bin('send', '--help');
  t.same({ status: help.status, stderr: help.stderr }, { status: 0, stderr: '' });
  t.match(help.stdout, /^Usage: fedpeer room send ROOM_ID TEXT \[options\]\n[^]*Example:\n {2}fedpeer room send /);
  const typo = bin('create', '--as', 'alice', '--room-verison', '9');
  t.same({ status: typo.status, stdout: typo.stdout }, { status: 2, stdout: '' });
  t.match(typo.stderr, /^fedpeer room create: unknown option --room-verison \(did you mean --room-version\?\)\. [^\n]*\n$/, 'one line naming the option meant');
  child.kill('SIGTERM');
  const code = await new Promise((r) => child.once('exit', r));
  t.equal(code, 0, 'stops cleanly');
  t.equal(bin('events', roomId).stderr.trim(), `fedpeer room events: the server is not running at ${addr(5, 1)}:8009: start it with fedpeer serve --config ${C.file}`);
});
