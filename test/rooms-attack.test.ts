// The room endpoints as a hostile member server and as a stranger would use
// them, each attack measuring what it costs fedpeer: requests it makes,
// events it takes, bytes it answers, and the longest stall of the event loop
// (perf_hooks.monitorEventLoopDelay over the attack; the attacker runs in
// the same process, so the figure is an upper bound). The bounds are the
// defaults of src/rooms/limits.ts but the fetch time, shortened so a tar pit
// costs seconds. Figures are printed as `# figure ...` lines for
// docs/OPERATIONS.md; a stall bound is asserted loosely (a loaded machine),
// the counts exactly.
import t from 'tap';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { startPeer, createDevCa, DEFAULT_ROOM_LIMITS, type Pdu } from '../src/index.js';
import { MAX_WALK_EVENTS } from '../src/rooms/queries.js';
import { block } from './harness/addresses.js';

const addr = block('rooms-attack');
const enc = encodeURIComponent;
const fakeId = () => `$${randomBytes(32).toString('base64url')}`;
/** Far above what any bounded answer should stall the loop for, even on a loaded machine. */
const STALL_CEILING_MS = 1500;

// Building a 2,000-member room takes a while on a loaded machine.
t.setTimeout(400_000);
const ca = await createDevCa();
const FETCH_TIME_MS = 3000;
const A = await startPeer({ ca, bind: addr(1, 1), users: { alice: {} }, roomLimits: { fetchTimeMs: FETCH_TIME_MS } });
t.teardown(() => A.close());
const M = await startPeer({ ca, bind: addr(1, 2), users: { mal: {} } });
t.teardown(() => M.close());
const N = await startPeer({ ca, bind: addr(1, 3), users: { nel: {} } });
t.teardown(() => N.close());
const alice = `@alice:${A.serverName}`;
const mal = `@mal:${M.serverName}`;
const nel = `@nel:${N.serverName}`;
const { roomId } = await A.createRoom({ creator: alice });
await M.join(mal, roomId);
await N.join(nel, roomId);

/** Runs `attack` with the event loop watched; returns its result, the wall time and the longest stall. */
async function measured<T>(attack: () => Promise<T>): Promise<{ result: T; ms: number; stallMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const started = performance.now();
  const result = await attack();
  const ms = performance.now() - started;
  h.disable();
  return { result, ms: Math.round(ms), stallMs: Math.round(h.max / 1e6) };
}

const figure = (t: { comment: (message: string) => void }, name: string, values: Record<string, unknown>) => t.comment(`figure ${name} ${JSON.stringify(values)}`);

/** Chained events of M's users (each the prev of the next), from the room's forward extremities. */
function chain(count: number, make: (i: number) => { type: string; stateKey?: string; content: Record<string, unknown>; sender?: string }): Pdu[] {
  const room = A.rooms.data.room(roomId)!;
  let prev = [...room.extremities];
  let depth = room.depth;
  const out: Pdu[] = [];
  for (let i = 0; i < count; i++) {
    const m = make(i);
    const e = M.buildEvent({ roomId, sender: m.sender ?? mal, type: m.type, ...(m.stateKey !== undefined ? { stateKey: m.stateKey } : {}), content: m.content as never, prevEvents: prev, depth: ++depth });
    out.push(e.pdu);
    prev = [e.eventId];
  }
  return out;
}

async function sendAll(pdus: Pdu[]): Promise<void> {
  for (let i = 0; i < pdus.length; i += 50) {
    const r = await M.sendTransaction(A.serverName, { pdus: pdus.slice(i, i + 50) });
    if (r.status !== 200) throw new Error(`setup transaction answered ${r.status}`);
  }
}

t.test('/send: 50 orphans, the sender answering endless chains and huge state', async (t) => {
  // 1,000 distinct events, each on an unknown prev event: what an endless chain offers, built before the watch starts.
  const pool = Array.from({ length: 1000 }, (_, i) => M.buildEvent({ roomId, sender: mal, type: 'm.room.message', content: { body: `deep ${i}` }, prevEvents: [fakeId()], depth: 10_000 - i }).pdu);
  let next = 0;
  const asked: Record<string, number> = {};
  M.hooks.onRequest = (req) => {
    asked[req.endpoint] = (asked[req.endpoint] ?? 0) + 1;
    if (req.endpoint === 'get_missing_events') {
      const events = pool.slice(next % pool.length, (next % pool.length) + 100);
      next += 100;
      return { respond: { events } };
    }
    if (req.endpoint === 'state_ids') return { respond: { pdu_ids: Array.from({ length: 3000 }, fakeId), auth_chain_ids: [] } };
    if (req.endpoint === 'event_auth') return { respond: { auth_chain: pool.slice(0, 500) } };
    return undefined;
  };
  t.teardown(() => {
    delete M.hooks.onRequest;
  });
  const orphans = Array.from({ length: 50 }, (_, i) => M.buildEvent({ roomId, sender: mal, type: 'm.room.message', content: { body: `orphan ${i}` }, prevEvents: [fakeId()], authEvents: [fakeId()], depth: 20_000 }).pdu);
  let nLatency = 0;
  const { result: r, ms, stallMs } = await measured(async () => {
    const attack = M.sendTransaction(A.serverName, { pdus: orphans });
    await new Promise((res) => setTimeout(res, 300));
    const started = performance.now();
    const other = await N.sendTransaction(A.serverName, { pdus: [N.buildEvent({ roomId, sender: nel, type: 'm.room.message', content: { body: 'meanwhile' } }).pdu] });
    nLatency = Math.round(performance.now() - started);
    t.equal(other.status, 200, "another server's transaction is answered meanwhile");
    return attack;
  });
  t.equal(r.status, 200);
  const results = Object.values((r.body as { pdus: Record<string, { error?: string }> }).pdus);
  t.equal(results.length, 50, 'a result for each PDU');
  t.ok(results.every((x) => x.error !== undefined), 'each orphan refused');
  const requests = Object.values(asked).reduce((a, b) => a + b, 0);
  t.ok(requests <= DEFAULT_ROOM_LIMITS.fetchRequests, `requests made: ${requests} <= ${DEFAULT_ROOM_LIMITS.fetchRequests}`);
  t.ok(ms < FETCH_TIME_MS + 10_000, `answered in ${ms} ms (fetch budget ${FETCH_TIME_MS} ms)`);
  t.ok(stallMs < STALL_CEILING_MS, `longest stall ${stallMs} ms`);
  t.ok(A.events(roomId).at(-1)!.content.body === 'meanwhile', 'the room goes on');
  figure(t, 'send-orphans', { ms, stallMs, requests, asked, otherOriginMs: nLatency });
});

t.test('/send: PDUs naming more prev or auth events than allowed are refused unparsed', async (t) => {
  const wide = Array.from({ length: 50 }, (_, i) =>
    M.buildEvent({ roomId, sender: mal, type: 'm.room.message', content: { body: `wide ${i}` }, prevEvents: Array.from({ length: 1000 }, fakeId), authEvents: Array.from({ length: 300 }, fakeId), depth: 5 }).pdu,
  );
  let asked = 0;
  M.hooks.onRequest = (req) => {
    // What A could fetch for the PDUs (its own transactions to M are not that).
    if (req.endpoint !== 'send') asked++;
    return undefined;
  };
  t.teardown(() => {
    delete M.hooks.onRequest;
  });
  const { result: r, ms, stallMs } = await measured(() => M.sendTransaction(A.serverName, { pdus: wide }));
  t.equal(r.status, 200);
  t.ok(Object.values((r.body as { pdus: Record<string, { error?: string }> }).pdus).every((x) => /prev_events|auth_events/.test(x.error ?? '')), 'each refused for its references');
  t.equal(asked, 0, 'nothing fetched for them');
  t.ok(stallMs < STALL_CEILING_MS);
  figure(t, 'send-wide', { ms, stallMs, bytes: JSON.stringify(wide).length });
});

t.test('a large room: /state, /state_ids, send_join and make_join floods; /event_auth of a deep chain', async (t) => {
  const MEMBERS = 2000;
  await sendAll(chain(MEMBERS, (i) => ({ type: 'm.room.member', stateKey: `@u${i}:${M.serverName}`, sender: `@u${i}:${M.serverName}`, content: { membership: 'join' } })));
  t.ok(A.state(roomId).length > MEMBERS, `${A.state(roomId).length} state events`);
  const at = A.events(roomId).at(-1)!.eventId;

  const state = await measured(() => M.request(A.serverName, 'GET', `/_matrix/federation/v1/state/${enc(roomId)}?event_id=${enc(at)}`));
  t.equal(state.result.status, 200);
  const stateBytes = JSON.stringify(state.result.body).length;
  t.ok(state.stallMs < STALL_CEILING_MS, `/state stall ${state.stallMs} ms`);
  const ids = await measured(() => M.request(A.serverName, 'GET', `/_matrix/federation/v1/state_ids/${enc(roomId)}?event_id=${enc(at)}`));
  t.equal(ids.result.status, 200);
  t.ok(ids.stallMs < STALL_CEILING_MS);
  figure(t, 'state', { members: MEMBERS, stateMs: state.ms, stateStallMs: state.stallMs, stateBytes, idsMs: ids.ms, idsStallMs: ids.stallMs, idsBytes: JSON.stringify(ids.result.body).length });

  // 20 joins at once, each answered with the whole state and auth chain.
  const joins = Array.from({ length: 20 }, (_, i) => {
    const user = `@j${i}:${M.serverName}`;
    return M.buildEvent({ roomId, sender: user, type: 'm.room.member', stateKey: user, content: { membership: 'join' } });
  });
  const sj = await measured(() => Promise.all(joins.map((j) => M.request(A.serverName, 'PUT', `/_matrix/federation/v2/send_join/${enc(roomId)}/${enc(j.eventId)}`, j.pdu))));
  const statuses = sj.result.map((r) => r.status);
  t.ok(statuses.every((s) => s === 200), `20 joins, within the running and waiting bounds: all answered (${[...new Set(statuses)]})`);
  t.ok(sj.stallMs < STALL_CEILING_MS, `send_join flood stall ${sj.stallMs} ms`);
  const sjBytes = sj.result.reduce((n, r) => n + JSON.stringify(r.body).length, 0);
  figure(t, 'send_join-flood', { joins: 20, ms: sj.ms, stallMs: sj.stallMs, answered200: statuses.filter((s) => s === 200).length, bytes: sjBytes });

  // 200 make_joins at once from one server: 3 run, 50 wait, the rest are told to slow down.
  const mj = await measured(() => Promise.all(Array.from({ length: 200 }, (_, i) => M.request(A.serverName, 'GET', `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(`@k${i}:${M.serverName}`)}?ver=10`))));
  const mjStatuses = mj.result.map((r) => r.status);
  t.ok(mjStatuses.every((s) => s === 200 || s === 429));
  t.ok(mjStatuses.filter((s) => s === 200).length >= DEFAULT_ROOM_LIMITS.requestsPerOrigin, 'some answered');
  const other = await N.request(A.serverName, 'GET', `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(`@x:${N.serverName}`)}?ver=10`);
  t.equal(other.status, 200, 'another server is not refused');
  t.ok(mj.stallMs < STALL_CEILING_MS);
  figure(t, 'make_join-flood', { requests: 200, ms: mj.ms, stallMs: mj.stallMs, answered200: mjStatuses.filter((s) => s === 200).length, refused429: mjStatuses.filter((s) => s === 429).length });

  // A deep auth chain: 200 power level changes, each authorised by the last.
  for (let i = 0; i < 200; i++) await A.sendState(alice, roomId, 'm.room.power_levels', '', { users: { [alice]: 100, [mal]: i % 50 } });
  const last = A.state(roomId).find((s) => s.type === 'm.room.power_levels')!.eventId;
  const auth = await measured(() => M.request(A.serverName, 'GET', `/_matrix/federation/v1/event_auth/${enc(roomId)}/${enc(last)}`));
  t.equal(auth.result.status, 200);
  const chainLength = (auth.result.body as { auth_chain: unknown[] }).auth_chain.length;
  t.ok(chainLength >= 200, `auth chain of ${chainLength} events`);
  t.ok(auth.stallMs < STALL_CEILING_MS);
  figure(t, 'event_auth-deep', { chain: chainLength, ms: auth.ms, stallMs: auth.stallMs, bytes: JSON.stringify(auth.result.body).length });
});

t.test('/backfill and /get_missing_events: huge limits, many starting points', async (t) => {
  const timeline = A.events(roomId).map((e) => e.eventId);
  const v = timeline.slice(-40);
  const bf = await measured(() => M.request(A.serverName, 'GET', `/_matrix/federation/v1/backfill/${enc(roomId)}?${v.map((id) => `v=${enc(id)}`).join('&')}&limit=1000000000`));
  t.equal(bf.result.status, 200);
  t.equal((bf.result.body as { pdus: unknown[] }).pdus.length, MAX_WALK_EVENTS, `at most ${MAX_WALK_EVENTS} events`);
  t.ok(bf.stallMs < STALL_CEILING_MS);
  const gme = await measured(() =>
    M.request(A.serverName, 'POST', `/_matrix/federation/v1/get_missing_events/${enc(roomId)}`, {
      earliest_events: [...Array.from({ length: 600 }, fakeId), timeline[0]],
      latest_events: [...timeline.slice(-50), ...Array.from({ length: 600 }, fakeId)],
      limit: 1e12,
      min_depth: 0,
    }),
  );
  t.equal(gme.result.status, 200);
  t.ok((gme.result.body as { events: unknown[] }).events.length <= MAX_WALK_EVENTS);
  t.ok(gme.stallMs < STALL_CEILING_MS);
  t.match(await M.request(A.serverName, 'POST', `/_matrix/federation/v1/get_missing_events/${enc(roomId)}`, { latest_events: Array.from({ length: 1001 }, () => '$x') }), { status: 400 }, 'more than 1,000 IDs: refused');
  const huge = await M.request(A.serverName, 'POST', `/_matrix/federation/v1/get_missing_events/${enc(roomId)}`, { latest_events: Array.from({ length: 2000 }, fakeId) });
  t.equal(huge.status, 413, 'a body over 64 KiB: refused unread');
  figure(t, 'backfill', { ms: bf.ms, stallMs: bf.stallMs, bytes: JSON.stringify(bf.result.body).length });
  figure(t, 'get_missing_events', { ms: gme.ms, stallMs: gme.stallMs, events: (gme.result.body as { events: unknown[] }).events.length });
});

t.test('a stranger: refused before any work, oversized bodies refused unread', async (t) => {
  const S = await startPeer({ ca, bind: addr(1, 4), users: { sam: {} } });
  t.teardown(() => S.close());
  const at = A.events(roomId).at(-1)!.eventId;
  const st = await measured(() => S.request(A.serverName, 'GET', `/_matrix/federation/v1/state/${enc(roomId)}?event_id=${enc(at)}`));
  t.match(st.result, { status: 403 });
  const big = { pdus: [], edus: [], padding: 'x'.repeat(9 * 1024 * 1024) };
  const r = await S.request(A.serverName, 'PUT', '/_matrix/federation/v1/send/big', big).catch((e: Error) => ({ status: 0, body: e.message }));
  t.ok(r.status === 413 || r.status === 0, `a 9 MiB transaction: ${r.status}`);
  const sj = await S.request(A.serverName, 'PUT', `/_matrix/federation/v2/send_join/${enc(roomId)}/${enc(fakeId())}`, { type: 'm.room.member', content: { membership: 'join', pad: 'x'.repeat(300 * 1024) } }).catch((e: Error) => ({ status: 0, body: e.message }));
  t.ok(sj.status === 413 || sj.status === 0, `a 300 KiB send_join: ${sj.status}`);
  t.match(await S.request(A.serverName, 'PUT', `/_matrix/federation/v2/invite/${enc('!x:y')}/${enc('$e')}`, { room_version: 'org.example.99', event: {} }), { status: 400, body: { errcode: 'M_UNSUPPORTED_ROOM_VERSION' } });
  figure(t, 'stranger-state', { ms: st.ms, stallMs: st.stallMs });
});
