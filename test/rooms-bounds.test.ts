// The tables and queues other servers add to stay within their bounds
// (docs/OPERATIONS.md, "Bounds on work done for strangers"): received
// transaction IDs, EDUs and invites per origin, over all and in age; room
// requests admitted a few per origin at a time with 429 beyond; one
// transaction at a time per origin on /send; a transaction's fetches from a
// tar pit end with its budget; and the invite flow leaves the room unlocked
// while the invitee's server answers. Peers from the library with the
// limits tightened so each bound is reached in a few requests.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startPeer, createDevCa } from '../src/index.js';
import { openRoomStore } from '../src/rooms/store.js';
import { boundedLog } from '../src/rooms/bounded-log.js';
import { block } from './harness/addresses.js';

const addr = block('rooms-bounds');
const enc = encodeURIComponent;
const fakeId = () => `$${randomBytes(32).toString('base64url')}`;

t.test('a bounded log: per group, over all, by age, across a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-bounds-'));
  let store = openRoomStore(dir);
  const dropped: string[] = [];
  const open = () => boundedLog(store, 'test', { perGroup: 3, total: 5, ttlMs: 1000, drop: (g, k) => dropped.push(`${g}/${k}`) });
  let log = open();
  t.notOk(log.started, 'a fresh log');
  for (let i = 0; i < 5; i++) log.add('a', `a${i}`, 100 + i);
  t.same(dropped, ['a/a0', 'a/a1'], 'the oldest of the group go first');
  t.equal(log.size, 3);
  for (let i = 0; i < 3; i++) log.add('b', `b${i}`, 200 + i);
  t.same(dropped.slice(2), ['a/a2'], 'then the oldest of all');
  t.equal(log.size, 5);
  await store.close();
  store = openRoomStore(dir);
  log = open();
  t.ok(log.started, 'its order survives a restart');
  t.equal(log.size, 5);
  log.prune(1150);
  t.same(dropped.slice(3), ['a/a3', 'a/a4'], 'entries older than the TTL go');
  t.equal(log.size, 3);
  log.prune(5000);
  t.equal(log.size, 0, 'all expired');
  log.add('c', 'c0', 5000);
  t.equal(log.size, 1);
  const noTtl = boundedLog(store, 'other', { perGroup: 1, total: 1, drop: () => undefined });
  noTtl.add('x', 'x0', 0);
  noTtl.prune(Number.MAX_SAFE_INTEGER);
  t.equal(noTtl.size, 1, 'no TTL: nothing expires');
  await store.close();
});

t.test('through the federation endpoints', async (t) => {
  const ca = await createDevCa();
  const limits = {
    transactionsPerOrigin: 4,
    edusPerOrigin: 3,
    eduBytes: 1000,
    invitesPerOrigin: 2,
    requestsPerOrigin: 1,
    requestsWaitingPerOrigin: 1,
    transactionsWaitingPerOrigin: 1,
    fetchTimeMs: 1500,
  };
  const A = await startPeer({ ca, bind: addr(1, 1), users: { alice: {} }, roomLimits: limits });
  t.teardown(() => A.close());
  const M = await startPeer({ ca, bind: addr(1, 2), users: { mal: {} } });
  t.teardown(() => M.close());
  const N = await startPeer({ ca, bind: addr(1, 3), users: { nel: {}, newcomer: {} } });
  t.teardown(() => N.close());
  const alice = `@alice:${A.serverName}`;
  const mal = `@mal:${M.serverName}`;
  const { roomId } = await A.createRoom({ creator: alice });
  await M.join(mal, roomId);
  await N.join(`@nel:${N.serverName}`, roomId);
  const store = A.rooms.data.store;
  const txnIds = (origin: string) => store.transactions.range([origin, ''], [origin, '\u{10FFFF}']).map((e) => e.key[1]);

  t.test('received transaction IDs: the last few per origin', async (t) => {
    for (let i = 0; i < 6; i++) t.equal((await M.sendTransaction(A.serverName, { txnId: `t${i}` })).status, 200);
    t.same(txnIds(M.serverName), ['t2', 't3', 't4', 't5'], `${limits.transactionsPerOrigin} kept, the oldest evicted`);
    await N.sendTransaction(A.serverName, { txnId: 'n0' });
    t.same(txnIds(N.serverName), ['n0'], "another origin's are not pushed out by M's");
    t.same(txnIds(M.serverName).length, 4);
  });

  t.test('EDUs: the last few per origin, none oversized', async (t) => {
    const typing = (i: number) => ({ edu_type: 'm.typing', content: { room_id: roomId, user_id: mal, typing: true, i } });
    const big = { edu_type: 'm.presence', content: { push: [{ user_id: mal, status_msg: 'x'.repeat(2000) }] } };
    t.equal((await M.sendTransaction(A.serverName, { edus: [...[0, 1, 2, 3, 4].map(typing), big] as Array<Record<string, unknown>> })).status, 200);
    const kept = A.edus().filter((e) => e.origin === M.serverName);
    t.same(kept.map((e) => (e.edu.content as { i: number }).i), [2, 3, 4], `${limits.edusPerOrigin} kept, the oldest evicted`);
    t.equal(A.edus({ type: 'm.presence' }).length, 0, `an EDU over ${limits.eduBytes} bytes is not recorded`);
  });

  t.test('invites held: at most a few per inviting server', async (t) => {
    for (let i = 0; i < 3; i++) {
      const room = `!r${i}:${M.serverName}`;
      const invite = M.buildEvent({ roomId: room, sender: mal, type: 'm.room.member', stateKey: alice, content: { membership: 'invite' }, roomVersion: '10', prevEvents: [], authEvents: [] });
      const r = await M.request(A.serverName, 'PUT', `/_matrix/federation/v2/invite/${enc(room)}/${enc(invite.eventId)}`, {
        room_version: '10',
        event: invite.pdu,
        invite_room_state: Array.from({ length: 80 }, (_, k) => ({ type: 'm.room.name', state_key: '', sender: mal, content: { name: `${k}` } })),
      });
      t.equal(r.status, 200);
    }
    const held = A.invites(alice);
    t.same(held.map((i) => i.roomId).sort(), [`!r1:${M.serverName}`, `!r2:${M.serverName}`], `${limits.invitesPerOrigin} held, the oldest dropped`);
    t.equal(held[0]!.inviteRoomState.length, 50, 'stripped state capped at 50 events');
  });

  t.test('room requests: one of an origin at a time, one waiting, 429 beyond; others unaffected', async (t) => {
    const createId = A.state(roomId).find((s) => s.type === 'm.room.create')!.eventId;
    let release!: () => void;
    const held = A.rooms.admission.run(M.serverName, () => new Promise<void>((r) => (release = r)));
    const path = `/_matrix/federation/v1/event/${enc(createId)}`;
    const waiting = M.request(A.serverName, 'GET', path);
    await new Promise((r) => setTimeout(r, 100));
    t.match(await M.request(A.serverName, 'GET', path), { status: 429, body: { errcode: 'M_LIMIT_EXCEEDED' } }, 'a third request of M: 429');
    t.match(await N.request(A.serverName, 'GET', path), { status: 200 }, 'N is answered meanwhile');
    t.equal(A.rooms.admission.waiting, 1);
    release();
    await held;
    t.match(await waiting, { status: 200 }, 'the waiting one runs when the slot frees');
    t.equal(A.rooms.admission.running, 0);
  });

  t.test('/send: a tar pit costs one transaction its fetch budget; one at a time per origin', async (t) => {
    let asked = 0;
    M.hooks.onRequest = (req) => {
      if (req.endpoint !== 'get_missing_events' && req.endpoint !== 'state_ids') return undefined;
      asked++;
      return { delayMs: 6000 };
    };
    t.teardown(() => {
      delete M.hooks.onRequest;
    });
    const orphan = M.buildEvent({ roomId, sender: mal, type: 'm.room.message', content: { body: 'orphan' }, prevEvents: [fakeId()] });
    const started = Date.now();
    const first = M.sendTransaction(A.serverName, { pdus: [orphan.pdu], txnId: 'pit-1' });
    await new Promise((r) => setTimeout(r, 200));
    const second = M.sendTransaction(A.serverName, { txnId: 'pit-2' });
    await new Promise((r) => setTimeout(r, 100));
    t.match(await M.sendTransaction(A.serverName, { txnId: 'pit-3' }), { status: 429, body: { errcode: 'M_LIMIT_EXCEEDED' } }, 'a third transaction of M waiting: 429');
    t.match(await N.sendTransaction(A.serverName, { txnId: 'n-pit' }), { status: 200 }, "N's transaction is not behind M's");
    const r = await first;
    const took = Date.now() - started;
    t.match(r, { status: 200, body: { pdus: { [orphan.eventId]: { error: /prev events/ } } } }, 'answered: the orphan refused');
    t.ok(took < 5500, `answered before the tar pit (6 s) answers: ${took} ms (budget ${limits.fetchTimeMs} ms)`);
    t.ok(asked >= 1, 'A asked M');
    t.match(await second, { status: 200 }, 'the waiting transaction ran next');
    t.notOk(A.events(roomId).some((e) => e.eventId === orphan.eventId));
  });

  t.test('/send: a sender that hangs up stops its fetches, and nothing of the transaction is kept', async (t) => {
    // N, not M: A's client backs off M after the tar pit above.
    let asked = 0;
    let release!: () => void;
    const answered = new Promise<void>((r) => (release = r));
    N.hooks.onRequest = async (req) => {
      if (req.endpoint !== 'get_missing_events') return undefined;
      asked++;
      await answered;
      return { respond: { events: [] } };
    };
    t.teardown(() => {
      delete N.hooks.onRequest;
    });
    const orphan = N.buildEvent({ roomId, sender: `@nel:${N.serverName}`, type: 'm.room.message', content: { body: 'abandoned' }, prevEvents: [fakeId()] });
    const body = { origin: N.serverName, origin_server_ts: Date.now(), pdus: [orphan.pdu], edus: [] };
    const gone = await N.server.peer.client.request(A.serverName, 'PUT', '/_matrix/federation/v1/send/hangup', { body, timeoutMs: 700 }).catch((e: Error) => e);
    t.match(gone, { message: /700 ms|timeout|abort/i }, 'N gave up waiting');
    await new Promise((r) => setTimeout(r, 300));
    release();
    await new Promise((r) => setTimeout(r, 300));
    t.equal(asked, 1, 'A had asked N once');
    t.notOk(txnIds(N.serverName).includes('hangup'), 'the transaction ID is not remembered: a retry is processed');
    t.equal(A.rooms.data.stored(orphan.eventId), undefined, 'nothing of it stored');
    // (N's client now backs off A after its own timeout: the lane is asked directly.)
    t.same(await A.rooms.transactions.receive(N.serverName, 'after-hangup', { pdus: [] }), { pdus: {} }, "N's lane is free again");
  });

  t.test('inviting: the room is not locked while the invitee server answers', async (t) => {
    N.hooks.onInvite = () => ({ delayMs: 1500 });
    t.teardown(() => {
      delete N.hooks.onInvite;
    });
    const order: string[] = [];
    const invite = A.invite(alice, roomId, `@newcomer:${N.serverName}`).then(() => order.push('invite'));
    await new Promise((r) => setTimeout(r, 200));
    await A.send(alice, roomId, 'while the invite waits').then(() => order.push('send'));
    await invite;
    t.same(order, ['send', 'invite'], 'a message went out while the invite waited');
    t.ok(A.state(roomId).some((s) => s.stateKey === `@newcomer:${N.serverName}` && s.content.membership === 'invite'), 'the invite is in the room');
  });
});
