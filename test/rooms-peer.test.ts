// Two real fedpeers on the private internet federate rooms: each hosts a
// room the other joins, messages and state go both ways, invites, leaves and
// bans, a restart in the middle, and a fork from concurrent sends that both
// resolve to the same state.
import t from 'tap';
import { federationWorld } from './harness/federation.js';
import { startFixture, type Fixture } from './harness/server-fixture.js';

const world = await federationWorld('rooms-peer');
const { dns, addr } = world;
t.teardown(() => world.close());

const outbound = { federation_custom_ca_list: [world.caFile], federation_dns_servers: [dns.hostPort], ip_range_whitelist: ['127.82.0.0/16'] };
async function start(name: string, c: number, users: Record<string, unknown>, dir?: string): Promise<Fixture> {
  dns.set(name, 'A', addr(c, 1));
  return startFixture({ address: addr(c, 1), serverName: name, certNames: [name], raw: { ...outbound, test_users: users, ...(dir ? { data_dir: dir } : {}) } });
}
const A = await start('a.test', 1, { '@alice:a.test': { displayname: 'Alice' }, '@amy:a.test': {} });
t.teardown(() => A.close());
const B = await start('b.test', 2, { '@bob:b.test': { displayname: 'Bob' }, '@ben:b.test': {} });
t.teardown(() => B.close());
const a = A.server.rooms;
const b = B.server.rooms;

t.test('B joins a room A hosts, by alias; messages both ways', async (t) => {
  const { roomId, alias } = await a.createRoom({ creator: '@alice:a.test', alias: 'lobby', name: 'Lobby' });
  t.equal(alias, '#lobby:a.test');
  const joined = await b.join('@bob:b.test', '#lobby:a.test');
  t.equal(joined.roomId, roomId);
  await a.waitForEvent(roomId, (e) => e.eventId === joined.eventId, { timeout: 5000 });
  t.same(b.state(roomId).find((s) => s.type === 'm.room.name')?.content, { name: 'Lobby' }, 'B has the state');
  const fromA = await a.send('@alice:a.test', roomId, 'hello from A');
  const seenByB = await b.waitForEvent(roomId, (e) => e.eventId === fromA.eventId, { timeout: 5000 });
  t.equal(seenByB.content.body, 'hello from A');
  const fromB = await b.send('@bob:b.test', roomId, 'hello from B');
  const seenByA = await a.waitForEvent(roomId, (e) => e.eventId === fromB.eventId, { timeout: 5000 });
  t.equal(seenByA.content.body, 'hello from B');
  t.same(b.events(roomId).map((e) => e.eventId), [joined.eventId, fromA.eventId, fromB.eventId], 'B timeline starts at its join');
  t.same(a.events(roomId).slice(-3).map((e) => e.eventId), [joined.eventId, fromA.eventId, fromB.eventId]);
  t.same(a.state(roomId), b.state(roomId), 'same current state');
});
