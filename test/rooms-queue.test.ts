// The outbound queue against a real HTTPS destination found through the test
// DNS: batching (50 PDUs / 100 EDUs), one transaction in flight per
// destination, retries with backoff after failures, and what is queued
// surviving a restart.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer } from './harness/https-server.js';
import { openRoomStore, type RoomStore } from '../src/rooms/store.js';
import { createOutboundQueue, type TransactionBody } from '../src/rooms/outbound-queue.js';
import type { FederationClient } from '../src/federation/client.js';

const world = await federationWorld('rooms');
t.teardown(() => world.close());
const logger = pino({ level: 'silent' });

interface Received {
  txnId: string;
  body: TransactionBody;
}
const received: Received[] = [];
let failNext = 0;
let inFlight = 0;
let maxInFlight = 0;
let holdMs = 0;
const leaf = await world.pki.leaf(['dest.test', 'unreachable.test']);
const dest = await startHttpsServer({
  address: world.addr(1, 1),
  port: 8448,
  certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem },
  handler: async (req: IncomingMessage, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let text = '';
    for await (const chunk of req) text += chunk;
    if (holdMs) await new Promise((r) => setTimeout(r, holdMs));
    inFlight--;
    if (failNext > 0) {
      failNext--;
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"errcode":"M_UNKNOWN","error":"try later"}');
      return;
    }
    const m = /^\/_matrix\/federation\/v1\/send\/([^/]+)$/.exec(req.url ?? '');
    received.push({ txnId: decodeURIComponent(m![1]!), body: JSON.parse(text) as TransactionBody });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"pdus":{}}');
  },
});
t.teardown(() => dest.close());
world.dns.set('dest.test', 'A', world.addr(1, 1));
const client: FederationClient = await world.client();

const send = (destination: string, txnId: string, body: TransactionBody) =>
  client.request(destination, 'PUT', `/_matrix/federation/v1/send/${encodeURIComponent(txnId)}`, { body, sign: false });

function putEvents(store: RoomStore, n: number, prefix: string): string[] {
  const ids = [];
  for (let i = 0; i < n; i++) {
    const eventId = `$${prefix}${i}`;
    store.events.put(eventId, { eventId, roomId: '!r:x', pdu: { event_id: eventId, i }, status: 'accepted', receivedTs: 0 });
    ids.push(eventId);
  }
  return ids;
}

t.test('batches of 50 PDUs and 100 EDUs, one in flight, in order', async (t) => {
  received.length = 0;
  maxInFlight = 0;
  holdMs = 30;
  const store = openRoomStore(mkdtempSync(join(tmpdir(), 'fedpeer-queue-')));
  const queue = createOutboundQueue({ store, origin: 'me.test', send, logger });
  const ids = putEvents(store, 120, 'a');
  for (const id of ids) queue.queuePdu(['dest.test'], id);
  for (let i = 0; i < 150; i++) queue.queueEdu('dest.test', { edu_type: 'm.typing', content: { i } });
  await store.commit();
  t.equal(queue.status('dest.test').queued, 270);
  queue.wake(['dest.test']);
  queue.wake(['dest.test']);
  t.ok(await queue.drained(20_000), 'drained');
  holdMs = 0;
  t.equal(maxInFlight, 1, 'one transaction in flight at a time');
  t.same(received.map((r) => [r.body.pdus.length, r.body.edus.length]), [[50, 100], [50, 50], [20, 0]]);
  t.same(received.flatMap((r) => r.body.pdus.map((p) => p.event_id)), ids, 'every PDU once, in order');
  t.equal(new Set(received.map((r) => r.txnId)).size, 3, 'distinct transaction IDs');
  t.equal(received[0]!.body.origin, 'me.test');
  t.equal(queue.status('dest.test').queued, 0);
  await queue.close();
  await store.close();
});

t.test('a failing destination is retried with backoff; the queue survives a restart', async (t) => {
  received.length = 0;
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-queue-'));
  let store = openRoomStore(dir);
  let queue = createOutboundQueue({ store, origin: 'me.test', send, logger, initialRetryMs: 100, maxRetryMs: 300 });
  const ids = putEvents(store, 3, 'b');
  queue.queuePdu(['dest.test', 'unreachable.test'], ids[0]!);
  await store.commit();
  failNext = 2;
  queue.wake();
  await world.dns.set('unreachable.test', 'A', world.addr(1, 99));
  t.notOk(await queue.drained(250), 'not drained while failing');
  t.ok(await queue.drained(1000) === false, 'unreachable.test never drains');
  t.equal(queue.status('dest.test').queued, 0, 'dest.test got it after two failures');
  t.equal(received.length, 1);
  // Between attempts retryAt is set; during one (a slow machine) it is not: wait for the gap.
  let stuck = queue.status('unreachable.test');
  for (let i = 0; i < 300 && stuck.retryAt === undefined; i++) {
    await new Promise((r) => setTimeout(r, 10));
    stuck = queue.status('unreachable.test');
  }
  t.equal(stuck.queued, 1);
  t.ok(stuck.failures >= 2, `failures counted (${stuck.failures})`);
  t.match(stuck.lastError, /ECONNREFUSED/);
  t.ok(stuck.retryAt! <= Date.now() + 300, 'backoff capped');
  queue.retryNow();
  queue.queuePdu(['unreachable.test'], ids[1]!);
  queue.queueEdu('unreachable.test', { edu_type: 'm.presence', content: {} });
  await store.commit();
  await queue.close();
  await store.close();

  // Restart: the destination now answers; what was queued goes out by itself.
  world.dns.set('unreachable.test', 'A', world.addr(1, 1));
  store = openRoomStore(dir);
  received.length = 0;
  // A fresh client, as after a real restart (no cached address for unreachable.test).
  const client2 = await world.client();
  const send2 = (destination: string, txnId: string, body: TransactionBody) =>
    client2.request(destination, 'PUT', `/_matrix/federation/v1/send/${encodeURIComponent(txnId)}`, { body, sign: false });
  queue = createOutboundQueue({ store, origin: 'me.test', send: send2, logger, initialRetryMs: 100 });
  t.ok(await queue.drained(10_000), 'drained after the restart');
  t.same(received.flatMap((r) => r.body.pdus.map((p) => p.event_id)), [ids[0], ids[1]]);
  t.same(received.flatMap((r) => r.body.edus.map((e) => e.edu_type)), ['m.presence']);
  t.same(queue.status('nowhere.test'), { destination: 'nowhere.test', queued: 0, inFlight: false, failures: 0 });
  await queue.close();
  await store.close();
});
