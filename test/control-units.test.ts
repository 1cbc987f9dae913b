// The control API's parts without a network: the token file, where the CLI
// dials, the rule set's bounds and matching, and event matching.
import t from 'tap';
import { mkdtempSync, writeFileSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureControlToken, readControlToken, controlTokenPath } from '../src/control/token.js';
import { controlTarget } from '../src/control/client.js';
import { createHookRules } from '../src/control/hook-rules.js';
import { eventMatcher } from '../src/control/event-match.js';
import { defaultConfig } from '../src/config/load.js';
import type { HookRequest } from '../src/rooms/hooks.js';
import type { TimelineEvent } from '../src/rooms/peer.js';

t.test('token file: made once with mode 0600, shared by concurrent starts, refused when empty', async (t) => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'fedpeer-token-')), 'nested', 'data');
  t.equal(await readControlToken({ dataDir }), undefined, 'none yet');
  let n = 0;
  const random = (bytes: number) => Buffer.alloc(bytes, ++n);
  const [a, b] = await Promise.all([ensureControlToken({ dataDir }, random), ensureControlToken({ dataDir }, random)]);
  t.equal(a, b, 'two servers starting together agree on one token');
  t.equal(readFileSync(controlTokenPath(dataDir), 'utf8'), `${a}\n`);
  t.equal(statSync(controlTokenPath(dataDir)).mode & 0o777, 0o600);
  t.equal(statSync(dataDir).mode & 0o777, 0o700, 'data_dir made private');
  t.equal(await ensureControlToken({ dataDir }, random), a, 'kept across restarts');
  t.equal(await ensureControlToken({ dataDir, controlToken: 'from-the-config-file' }), 'from-the-config-file');
  writeFileSync(controlTokenPath(dataDir), ' \n');
  await t.rejects(readControlToken({ dataDir }), { message: /control token file \S+ is empty: delete it and restart fedpeer serve/ });
  const blocked = join(mkdtempSync(join(tmpdir(), 'fedpeer-token-')), 'file');
  writeFileSync(blocked, '');
  await t.rejects(ensureControlToken({ dataDir: join(blocked, 'data') }), { message: /cannot read the control token \S+ \(ENOTDIR\): run as the user that runs fedpeer serve/ });
  const dangling = mkdtempSync(join(tmpdir(), 'fedpeer-token-'));
  symlinkSync(join(dangling, 'nowhere'), controlTokenPath(dangling));
  await t.rejects(ensureControlToken({ dataDir: dangling }), { message: /control.token is in the way of the control token \(a dangling link\?\): remove it/ });
  // A directory that takes no new files (procfs).
  await t.rejects(ensureControlToken({ dataDir: '/proc/self' }), { message: /^cannot write the control token \/proc\/self\/control.token \(\w+\): make data_dir writable, or set control_token/ });
});

t.test('where the CLI dials a control listener', async (t) => {
  const config = (listeners: unknown[]) => defaultConfig({ baseDir: '/tmp', raw: { server_name: 'x.test', listeners } });
  t.same(controlTarget(config([{ port: 9, type: 'control', bind_addresses: ['0.0.0.0'] }]), 'tok'), { where: '127.0.0.1:9', connect: { host: '127.0.0.1', port: 9 }, token: 'tok' });
  t.same(controlTarget(config([{ port: 9, type: 'control', bind_addresses: ['::'] }]), 'tok')?.where, '[::1]:9');
  t.same(controlTarget(config([{ port: 9, type: 'control', bind_addresses: ['::1', '127.0.0.1'] }]), 'tok')?.connect, { host: '::1', port: 9 }, 'the first address');
  t.same(controlTarget(config([{ path: '/run/fedpeer.sock', type: 'control' }]), 'tok'), { where: '/run/fedpeer.sock', connect: { socketPath: '/run/fedpeer.sock' }, token: 'tok' });
  t.equal(controlTarget(config([{ port: 9, type: 'http' }]), 'tok'), undefined);
});

const request = (over: Partial<HookRequest> = {}): HookRequest => ({ endpoint: 'make_join', origin: 'b.test', params: { roomId: '!r:a', userId: '@u:b.test' }, query: {}, body: undefined, ...over });

t.test('rules: first match wins, matching by every field, times', async (t) => {
  let now = 1000;
  const rules = createHookRules({ now: () => now });
  const any = rules.add({ endpoint: '*', match: { origin: 'c.test' }, delayMs: 5 });
  const byUser = rules.add({ endpoint: 'make_join', match: { userId: '@v:b.test' }, reject: { status: 403, errcode: 'M_FORBIDDEN' } });
  const byEvent = rules.add({ endpoint: 'event', match: { eventId: '$e' }, respond: { x: 1 }, times: 2 });
  const byRoom = rules.add({ endpoint: 'send', match: { roomId: '!r:a' }, delayMs: 7 });
  t.equal(await rules.hook(request()), undefined, 'nothing matches');
  t.same(await rules.hook(request({ origin: 'c.test' })), { delayMs: 5 });
  t.same(await rules.hook(request({ params: { roomId: '!r:a', userId: '@v:b.test' } })), { reject: { status: 403, errcode: 'M_FORBIDDEN' } });
  t.same(await rules.hook(request({ endpoint: 'event', params: { eventId: '$e' } })), { respond: { x: 1 } });
  t.same(await rules.hook(request({ endpoint: 'event', params: { eventId: '$e' } })), { respond: { x: 1 } });
  t.equal(await rules.hook(request({ endpoint: 'event', params: { eventId: '$e' } })), undefined, 'times: 2 used up');
  t.same(rules.list().map((r) => r.id), [any.id, byUser.id, byRoom.id]);
  const send = (body: unknown) => rules.hook(request({ endpoint: 'send', params: { txnId: '1' }, body }));
  t.same(await send({ pdus: [{ room_id: '!other:a' }, { room_id: '!r:a' }] }), { delayMs: 7 }, "a /send matches by its PDUs' rooms");
  t.equal(await send({ pdus: [{ room_id: '!other:a' }, null, 'x', { room_id: 5 }] }), undefined);
  t.equal(await send({ edus: [] }), undefined);
  t.equal(await send(null), undefined);
  t.equal(rules.remove('r999'), false);
  now = 2000;
  const seen = rules.requests({ endpoint: 'event' });
  t.same(seen.map((r) => [r.ts, r.ruleId]), [[1000, byEvent.id], [1000, byEvent.id], [1000, undefined]]);
});

t.test('observed requests: bounded, oldest dropped', async (t) => {
  const rules = createHookRules({ maxObserved: 3 });
  for (let i = 0; i < 10; i++) await rules.hook(request({ params: { roomId: `!r${i}:a`, userId: '@u:b' } }));
  t.same(rules.requests().map((r) => r.params.roomId), ['!r7:a', '!r8:a', '!r9:a']);
  t.same(rules.requests({ since: 8, limit: 1 }).map((r) => r.seq), [9]);
  for (let i = 0; i < 100; i++) rules.add({ endpoint: 'send', delayMs: 1 });
  t.throws(() => rules.add({ endpoint: 'send', delayMs: 1 }), { status: 400, message: /at most 100 rules/ });
  t.equal(rules.clear(), 100);
});

t.test('event matching', async (t) => {
  const e = { eventId: '$a', roomId: '!r:a', type: 'm.room.member', sender: '@u:a', stateKey: '@u:a', content: { membership: 'join', nested: { x: [1, 2] } } } as unknown as TimelineEvent;
  t.ok(eventMatcher({})(e));
  t.ok(eventMatcher({ type: 'm.room.member', stateKey: '@u:a', sender: '@u:a', eventId: '$a', content: { nested: { x: [1, 2] } } })(e));
  t.notOk(eventMatcher({ content: { nested: { x: [1] } } })(e), 'values compared whole');
  t.notOk(eventMatcher({ body: 'join' })(e));
  t.notOk(eventMatcher({ stateKey: '' })(e));
  t.notOk(eventMatcher({ sender: '@v:a' })(e));
  t.notOk(eventMatcher({ type: 'm.room.message' })(e));
  t.notOk(eventMatcher({ eventId: '$b' })(e));
});
