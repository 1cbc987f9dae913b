// The room store: read-your-writes before commit, ranges merging committed
// and pending entries, persistence across reopen, state groups, and a child
// process killed with SIGKILL mid-load leaving a store that opens whole
// (the child runs the built store: npm test builds first).
import t from 'tap';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRoomStore, compareKeys, StoreError } from '../src/rooms/store.js';
import { stateGroups, SNAPSHOT_EVERY } from '../src/rooms/state-groups.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'fedpeer-store-'));

t.test('writes are visible before commit and durable after', async (t) => {
  const dir = fresh();
  const store = openRoomStore(dir);
  await store.commit();
  store.aliases.put('#a:x', '!a:x');
  t.equal(store.aliases.get('#a:x'), '!a:x', 'read your write');
  t.equal(store.pending, 1);
  await store.commit();
  t.equal(store.pending, 0);
  t.equal(store.aliases.get('#a:x'), '!a:x');
  store.aliases.remove('#a:x');
  t.equal(store.aliases.get('#a:x'), undefined, 'removal visible at once');
  store.aliases.put('#b:x', '!b:x');
  await store.close();
  const again = openRoomStore(dir);
  t.equal(again.aliases.get('#a:x'), undefined);
  t.equal(again.aliases.get('#b:x'), '!b:x', 'close commits what is pending');
  t.equal(again.next('queue'), 1);
  t.equal(again.next('queue'), 2);
  await again.close();
  const third = openRoomStore(dir);
  t.equal(third.next('queue'), 3, 'counters persist');
  await third.close();
});

t.test('ranges merge committed and pending entries in key order', async (t) => {
  const store = openRoomStore(fresh());
  for (const s of [1, 3, 5]) store.timeline.put(['!r:x', s], `$${s}`);
  store.timeline.put(['!other:x', 2], '$other');
  await store.commit();
  store.timeline.put(['!r:x', 2], '$2');
  store.timeline.put(['!r:x', 6], '$6');
  store.timeline.remove(['!r:x', 3]);
  store.timeline.put(['!r:x', 5], '$5b');
  const all = store.timeline.range(['!r:x', 0], ['!r:x', Number.MAX_SAFE_INTEGER]).map((e) => e.value);
  t.same(all, ['$1', '$2', '$5b', '$6']);
  const back = store.timeline.range(['!r:x', 0], ['!r:x', Number.MAX_SAFE_INTEGER], { reverse: true, limit: 3 }).map((e) => e.value);
  t.same(back, ['$6', '$5b', '$2']);
  t.same(store.timeline.range(['!r:x', 0], ['!r:x', Number.MAX_SAFE_INTEGER], { limit: 1 }).map((e) => e.value), ['$1']);
  t.same(store.timeline.range(['!r:x', 4], ['!r:x', 100], { limit: 1 }).map((e) => e.value), ['$5b']);
  await store.commit();
  t.same(store.timeline.range(['!r:x', 0], ['!r:x', Number.MAX_SAFE_INTEGER]).map((e) => e.value), ['$1', '$2', '$5b', '$6']);
  await store.close();
});

t.test('key order matches lmdb', async (t) => {
  t.ok(compareKeys(['a', 2], ['a', 10]) < 0);
  t.ok(compareKeys(['a', 2], ['b', 1]) < 0);
  t.ok(compareKeys(['a'], ['a', 1]) < 0);
  t.ok(compareKeys([1], ['a']) < 0);
  t.ok(compareKeys(['a'], [1]) > 0);
  t.ok(compareKeys('\u{1F600}', '\uffff') > 0, 'UTF-8 byte order');
  t.equal(compareKeys(5, 5), 0);
  const store = openRoomStore(fresh());
  const keys: Array<[string, number]> = [['\uffff', 1], ['\u{1F600}', 1], ['a', 10], ['a', 2], ['B', 0]];
  for (const k of keys) store.timeline.put(k, k.join());
  await store.commit();
  const committed = store.timeline.range(['', 0], ['\u{10FFFF}', 0]).map((e) => e.key);
  t.same(committed, [...keys].sort(compareKeys), 'committed order is compareKeys order');
  await store.close();
});

t.test('a store of another schema is refused with the fix', async (t) => {
  const dir = fresh();
  const store = openRoomStore(dir);
  store.meta.put('schema', 99);
  await store.close();
  t.throws(() => openRoomStore(dir), new StoreError(`the room store in ${dir} has schema 99; this fedpeer reads schema 1. Move the directory aside to start empty.`));
  t.throws(() => openRoomStore('/proc/version/x'), /cannot open the room store in \/proc\/version\/x|ENOTDIR/);
});

t.test('a data file that is not LMDB is refused with the fix, before lmdb could crash the process on it', async (t) => {
  const real = fresh();
  const store = openRoomStore(real);
  await store.close();
  const good = readFileSync(join(real, 'data.mdb'));
  const cases: Array<[string, Buffer, RegExp]> = [
    ['random bytes', randomBytes(64 * 1024), /does not start with an LMDB meta page/],
    ['text', Buffer.from('x'.repeat(100)), /is 100 bytes, not whole LMDB pages/],
    ['truncated', good.subarray(0, 10_000), /is 10000 bytes, not whole LMDB pages/],
    ['zeroed header', Buffer.concat([Buffer.alloc(4096), good.subarray(4096)]), /does not start with an LMDB meta page/],
  ];
  for (const [what, bytes, why] of cases) {
    const dir = fresh();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'data.mdb'), bytes);
    t.throws(() => openRoomStore(dir), { name: 'StoreError', message: why }, what);
    const message = (() => {
      try {
        openRoomStore(dir);
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    })();
    t.ok(message.includes(`Move ${dir} aside to start with an empty store`), `${what}: names the fix`);
  }
  // An empty file (a crash right after creating it) and a real store open.
  const empty = fresh();
  mkdirSync(empty, { recursive: true });
  writeFileSync(join(empty, 'data.mdb'), '');
  const reopened = [openRoomStore(empty), openRoomStore(real)];
  t.equal(reopened.length, 2);
  for (const s of reopened) await s.close();
});

t.test('state groups: deltas, snapshots, reopen', async (t) => {
  const dir = fresh();
  let store = openRoomStore(dir);
  let groups = stateGroups(store);
  const base = new Map([['m.room.create\u0000', '$c'], ['m.room.member\u0000@a:x', '$m']]);
  const g0 = groups.create(base);
  t.same([...groups.get(g0)], [...base]);
  t.equal(groups.create(new Map(base), g0), g0, 'same state, same group');
  let g = g0;
  const ids = [g0];
  for (let i = 0; i < SNAPSHOT_EVERY + 3; i++) {
    g = groups.extend(g, [[`m.room.member\u0000@u${i}:x`, `$j${i}`]]);
    ids.push(g);
  }
  t.equal(store.stateGroups.get(ids[1]!)!.prev, g0, 'a delta over its base');
  t.equal(store.stateGroups.get(ids[1]!)!.entries.length, 1);
  t.ok(ids.slice(1).some((id) => store.stateGroups.get(id)!.prev === null), 'a snapshot after SNAPSHOT_EVERY deltas');
  const replaced = groups.extend(g, [['m.room.member\u0000@a:x', '$m2']]);
  t.equal(groups.get(replaced).get('m.room.member\u0000@a:x'), '$m2');
  const shrunk = groups.create(new Map([['m.room.create\u0000', '$c']]), replaced);
  t.equal(store.stateGroups.get(shrunk)!.prev, null, 'a lost slot makes a snapshot');
  const big = groups.create(new Map([...base].map(([k]) => [k, '$other'])), g0);
  t.equal(store.stateGroups.get(big)!.prev, null, 'mostly new state makes a snapshot');
  await store.close();
  store = openRoomStore(dir);
  groups = stateGroups(store);
  const state = groups.get(ids.at(-1)!);
  t.equal(state.size, 2 + SNAPSHOT_EVERY + 3, 'read back through the chain after reopen');
  t.equal(state.get(`m.room.member\u0000@u${SNAPSHOT_EVERY + 2}:x`), `$j${SNAPSHOT_EVERY + 2}`);
  t.same([...groups.get(ids[2]!)], [...groups.get(ids[2]!)], 'cached read');
  t.throws(() => groups.get(999_999), /state group 999999 is missing/);
  for (let i = 0; i < 600; i++) groups.get(ids[i % ids.length]!);
  await store.close();
});

t.test('SIGKILL at any moment: the store opens and every batch is whole', async (t) => {
  const dir = fresh();
  for (const delay of [150, 400, 250]) {
    const child = spawn(process.execPath, [new URL('./harness/store-writer.mjs', import.meta.url).pathname, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let reported = 0;
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n').filter(Boolean);
      reported = Number(lines.at(-1));
    });
    // Kill once it has committed something, at a moment of its choosing.
    const start = Date.now();
    while (reported === 0 && Date.now() - start < 60_000) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, delay));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    t.ok(reported > 0, `child committed batches before the kill (${reported})`);
    const store = openRoomStore(dir);
    const batches = store.meta.get('batches')!;
    t.ok(batches >= reported, `every reported batch is there (${batches} >= ${reported})`);
    const events = store.timeline.range(['!r:x', 0], ['!r:x', Number.MAX_SAFE_INTEGER]);
    t.equal(events.length, batches * 10, 'no batch half-written');
    for (let n = 1; n <= batches; n += Math.max(1, Math.floor(batches / 20))) {
      t.equal(store.events.get(`$${n}.9`)?.stream, n * 10 + 9);
    }
    t.equal(store.events.get(`$${batches + 1}.0`), undefined, 'nothing of the batch in flight');
    await store.close();
  }
});
