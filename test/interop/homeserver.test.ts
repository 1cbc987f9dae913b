// The interop suite: the two-fedpeer scenarios (test/rooms-peer.test.ts)
// against a real homeserver whose addresses and users come from the
// environment (test/interop/homeserver.ts lists the variables; docs/ROOMS.md
// walks through a run against Synapse). fedpeer is driven from the library
// and, in one scenario, over its control API; the homeserver through its
// client-server API as its users. Run with `npm run test:interop`; never part
// of `npm test`. Without the environment it is skipped with a notice.
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPeer, type Peer, type StartPeerOptions } from '../../src/index.js';
import { supportedRoomVersions } from '../../src/matrix/events/room-versions.js';
import { ENV, hsUser, readInteropEnv, type HsUser, type InteropEnv } from './homeserver.js';

const env = readInteropEnv(process.env);
if ('missing' in env) {
  const lines = Object.entries(ENV).map(([k, v]) => `#   ${k}: ${v}`);
  t.comment(`NOTICE: interop suite skipped: ${env.missing.join(', ')} not set. It needs a running homeserver:\n${lines.join('\n')}\n# (docs/ROOMS.md, "Interop suite")`);
  t.plan(0, `interop suite skipped: set ${env.missing.join(', ')}`);
} else {
  await suite(env);
}

async function suite(env: InteropEnv): Promise<void> {
  const hs = env.hs.serverName;
  const fp = env.fedpeer;
  const wait = env.timeoutMs;
  const stamp = Date.now().toString(36);
  const dataDir = fp.dataDir ?? join(tmpdir(), `fedpeer-interop-${fp.serverName.replace(/[^A-Za-z0-9.-]/g, '_')}`);
  const ca = fp.caCert && fp.caKey ? { certPem: readFileSync(fp.caCert, 'utf8'), keyPem: readFileSync(fp.caKey, 'utf8') } : undefined;
  const refused: string[] = [];
  const options: StartPeerOptions = {
    serverName: fp.serverName,
    bind: fp.bind,
    port: fp.port,
    dataDir,
    ...(ca ? { ca } : {}),
    users: { alice: { displayname: 'Alice' }, bob: { displayname: 'Bob' }, carol: {} },
    ...(env.hs.caFile ? { trustedCas: [readFileSync(env.hs.caFile, 'utf8')] } : {}),
    ...(fp.dnsServer ? { dnsServers: [fp.dnsServer] } : {}),
    // The homeserver is wherever the environment says, private addresses included.
    allowedRanges: ['0.0.0.0/0', '::/0'],
    queueRetry: { initialMs: 500, maxMs: 5000 },
    control: true,
    // Kept across the restart below: everything fedpeer refused, for the last check.
    hooks: {
      onEvent: (event, status) => {
        if (status !== 'accepted' && status !== 'outlier') refused.push(`${event.eventId} (${event.type} ${JSON.stringify(event.content)} from ${event.sender}): ${status}: ${peer.rooms.data.stored(event.eventId)?.reason}`);
      },
    },
  };
  let peer: Peer = await startPeer(options);
  t.teardown(() => peer.close());
  if (!ca && fp.caOut) {
    const before = existsSync(fp.caOut) ? readFileSync(fp.caOut, 'utf8') : undefined;
    if (before !== peer.caPem) {
      writeFileSync(fp.caOut, peer.caPem);
      t.comment(`NOTICE: wrote fedpeer's CA to ${fp.caOut}: the homeserver must trust it (for Synapse: restart it) before the suite can pass`);
    }
  }
  const [u1, u2] = await Promise.all([hsUser(env.hs.clientUrl, env.users[0]), hsUser(env.hs.clientUrl, env.users[1])]);
  // Asked before the first subtest: tap ends the run at the first pause between subtests.
  const ours = new Set<string>(supportedRoomVersions());
  const theirVersions = env.roomVersions ?? Object.entries(((await u1.call('GET', '/capabilities')).capabilities?.['m.room_versions']?.available ?? {}) as Record<string, string>).flatMap(([v, s]) => (s === 'stable' ? [v] : []));
  const versions = theirVersions.filter((v) => ours.has(v)).sort((a, b) => Number(a) - Number(b));
  const alice = `@alice:${fp.serverName}`;
  const bob = `@bob:${fp.serverName}`;
  const carol = `@carol:${fp.serverName}`;
  const sees = (roomId: string, eventId: string) => peer.waitForEvent(roomId, (e) => e.eventId === eventId, { timeout: wait });
  /** Until fedpeer's current state has this membership (not merely an event like it: a rejoin must not match the first join). */
  const seesMember = (roomId: string, userId: string, membership: string) =>
    until(`${userId} to be "${membership}" in ${roomId} at fedpeer`, () => peer.rooms.rooms().includes(roomId) && peer.state(roomId).some((s) => s.type === 'm.room.member' && s.stateKey === userId && s.content.membership === membership));
  const until = async (what: string, check: () => boolean | Promise<boolean>) => {
    const deadline = Date.now() + wait;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  await t.test('preflight: each side reaches the other', async (t) => {
    const version = await peer.request(hs, 'GET', '/_matrix/federation/v1/version').catch((e: Error) => e);
    if (version instanceof Error || version.status !== 200) {
      t.bailout(`fedpeer cannot reach ${hs} over federation (${version instanceof Error ? version.message : version.status}): check FEDPEER_INTEROP_HS_CA_FILE and that ${hs} resolves here`);
    }
    // A signed request: the homeserver learns fedpeer's keys and forgets any backoff from an earlier run.
    const profile = await peer.request(hs, 'GET', `/_matrix/federation/v1/query/profile?user_id=${encodeURIComponent(u1.id)}`);
    t.equal(profile.status, 200, 'X-Matrix accepted by the homeserver');
    const back = await u1.call('GET', `/profile/${encodeURIComponent(alice)}`).catch((e: Error) => e);
    if (back instanceof Error) {
      t.bailout(
        `${hs} cannot reach fedpeer as ${fp.serverName} (${back.message}): it must resolve ${fp.serverName} to ${fp.bind}:${fp.port}, trust the CA of fedpeer's certificate ` +
          `(${fp.caCert ?? fp.caOut ?? join(dataDir, 'ca.crt')}; Synapse: federation_custom_ca_list, then restart), and allow the address (Synapse: ip_range_whitelist; 1.67 with an IP-literal name: ip_range_blacklist)`,
      );
    }
    t.match(back, { displayname: 'Alice' }, 'the homeserver fetched a fedpeer profile over federation');
  });

  await t.test('fedpeer joins a room with history: the earlier messages are backfilled before its join', async (t) => {
    const roomId = await u1.createRoom({ preset: 'public_chat', name: 'History' });
    const earlier: string[] = [];
    for (let i = 0; i < 5; i++) earlier.push(await u1.send(roomId, `before the join ${i}`));
    await peer.join(carol, roomId, { via: [hs] });
    const timeline = peer.events(roomId);
    const joinAt = timeline.findIndex((e) => e.type === 'm.room.member' && e.stateKey === carol);
    t.ok(joinAt > 0, 'the join is in the timeline, after earlier events');
    t.same(
      timeline.slice(0, joinAt).filter((e) => e.type === 'm.room.message').map((e) => e.eventId),
      earlier,
      'the homeserver messages sent before the join, in order, before it',
    );
    t.equal(peer.state(roomId).find((s) => s.type === 'm.room.member' && s.stateKey === carol)?.content.membership, 'join', 'backfill left the state alone');
    await peer.leave(carol, roomId);
  });

  await t.test('fedpeer joins a public room of the homeserver by alias; messages and state both ways', async (t) => {
    const roomId = await u1.createRoom({ preset: 'public_chat', room_alias_name: `fedpeer-${stamp}`, name: 'Interop' });
    const joined = await peer.join(alice, `#fedpeer-${stamp}:${hs}`);
    t.equal(joined.roomId, roomId, 'the alias resolved through the directory query');
    await u1.waitForState(roomId, 'm.room.member', alice, (c) => c.membership === 'join', wait);
    t.equal(peer.state(roomId).find((s) => s.type === 'm.room.name')?.content.name, 'Interop', 'the state came with the join');

    const fromHs = await u1.send(roomId, 'hello from the homeserver');
    t.equal((await sees(roomId, fromHs)).content.body, 'hello from the homeserver');
    const fromPeer = await peer.send(alice, roomId, 'hello from fedpeer');
    t.match(await u1.waitFor(roomId, (e) => e.event_id === fromPeer.eventId, wait), { sender: alice, content: { body: 'hello from fedpeer' } });

    const topic = await u1.sendState(roomId, 'm.room.topic', '', { topic: 'set on the homeserver' });
    await sees(roomId, topic);
    t.same(peer.state(roomId).find((s) => s.type === 'm.room.topic')?.content, { topic: 'set on the homeserver' });
    t.match(await peer.sendState(alice, roomId, 'org.example.interop', '', { from: 'fedpeer' }).catch((e: unknown) => e), { status: 403 }, 'state_default 50: refused by fedpeer as the homeserver would');
    const levels = (await u1.state(roomId, 'm.room.power_levels'))!;
    const raised = await u1.sendState(roomId, 'm.room.power_levels', '', { ...levels, users: { ...levels.users, [alice]: 50 } });
    await sees(roomId, raised);
    const custom = await peer.sendState(alice, roomId, 'org.example.interop', '', { from: 'fedpeer' });
    t.same(await u1.waitForState(roomId, 'org.example.interop', '', (c) => c.from === 'fedpeer', wait), { from: 'fedpeer' });

    // Both sides hold the same current state.
    await sees(roomId, custom.eventId);
    const theirs = (await u1.call('GET', `/rooms/${encodeURIComponent(roomId)}/state`)) as unknown as Array<{ type: string; state_key: string; event_id: string }>;
    const key = (type: string, stateKey: string, id: string) => `${type}|${stateKey}|${id}`;
    t.same(peer.state(roomId).map((s) => key(s.type, s.stateKey, s.eventId)).sort(), theirs.map((s) => key(s.type, s.state_key, s.event_id)).sort(), 'the same current state');
  });

  await t.test('an invite-only room of the homeserver: refused, then joined through an invite', async (t) => {
    const roomId = await u1.createRoom({ preset: 'private_chat', name: 'Closed' });
    t.match(await peer.join(bob, roomId, { via: [hs] }).catch((e: unknown) => e), { status: 403 }, 'not invited');
    await u1.invite(roomId, bob);
    await until('the invite to reach fedpeer', () => peer.invites(bob).some((i) => i.roomId === roomId));
    const invite = peer.invites(bob).find((i) => i.roomId === roomId)!;
    t.ok((invite.event.signatures as Record<string, unknown>)[fp.serverName], 'fedpeer co-signed the invite');
    await peer.join(bob, roomId);
    await u1.waitForState(roomId, 'm.room.member', bob, (c) => c.membership === 'join', wait);
    const fromPeer = await peer.send(bob, roomId, 'bob is in');
    await u1.waitFor(roomId, (e) => e.event_id === fromPeer.eventId, wait);
    const fromHs = await u1.send(roomId, 'welcome bob');
    await sees(roomId, fromHs);
    t.pass('messages both ways');
  });

  await t.test('the homeserver joins rooms fedpeer hosts, by alias and by ID (fedpeer driven over its control API)', async (t) => {
    const { url, token } = peer.control!;
    const api = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${url}/_fedpeer/control/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const answer = (await r.json()) as Record<string, any>;
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(answer)}`);
      return answer;
    };
    const enc = encodeURIComponent;
    const { room_id: roomId, alias } = await api('POST', '/rooms', { as: 'alice', alias: `hosted-${stamp}`, name: 'Hosted by fedpeer' });
    t.equal(await u2.join(alias), roomId, 'joined by alias through the directory query');
    t.match(await api('POST', `/rooms/${enc(roomId)}/wait`, { match: { type: 'm.room.member', state_key: u2.id, content: { membership: 'join' } }, timeout_ms: wait }), { event: { sender: u2.id } });
    const fromHs = await u2.send(roomId, 'hello, host');
    t.match(await api('POST', `/rooms/${enc(roomId)}/wait`, { match: { event_id: fromHs }, timeout_ms: wait }), { event: { content: { body: 'hello, host' } } });
    const { event_id: fromPeer } = await api('POST', `/rooms/${enc(roomId)}/send`, { as: 'alice', body: 'hello, guest' });
    await u2.waitFor(roomId, (e) => e.event_id === fromPeer, wait);
    t.same((await u2.state(roomId, 'm.room.name'))?.name, 'Hosted by fedpeer');
    const seen = await api('GET', '/hooks/requests?endpoint=send_join');
    t.ok(seen.requests.some((r: { origin: string; params: { room_id: string } }) => r.origin === hs && r.params.room_id === roomId), 'the send_join was observed');

    const { room_id: byId } = await api('POST', '/rooms', { as: 'alice' });
    t.equal(await u1.join(byId, [fp.serverName]), byId, 'joined by ID');
    await api('POST', `/rooms/${enc(byId)}/wait`, { match: { state_key: u1.id, content: { membership: 'join' } }, timeout_ms: wait });
    const { event_id: topic } = await api('POST', `/rooms/${enc(byId)}/state`, { as: 'alice', type: 'm.room.topic', content: { topic: 'from fedpeer' } });
    t.same(await u1.waitForState(byId, 'm.room.topic', '', (c) => c.topic === 'from fedpeer', wait), { topic: 'from fedpeer' });
    t.ok(topic);

    // A rule refuses the next join to a room the homeserver is not in yet (once in, it joins locally).
    const { room_id: ruled } = await api('POST', '/rooms', { as: 'alice' });
    await api('POST', '/hooks/rules', { endpoint: 'make_join', match: { room_id: ruled }, reject: { status: 403, errcode: 'M_FORBIDDEN', error: 'closed by the interop suite' }, times: 1 });
    t.match(await u2.join(ruled, [fp.serverName]).catch((e: unknown) => e), { status: 403 }, 'the homeserver passes the refusal on');
    t.equal(await u2.join(ruled, [fp.serverName]), ruled, 'and joins once the rule is used up');
  });

  await t.test('fedpeer invites the homeserver user into an invite-only room it hosts', async (t) => {
    const { roomId } = await peer.createRoom({ creator: alice, joinRule: 'invite', name: 'Invite only' });
    t.match(await u2.join(roomId, [fp.serverName]).catch((e: unknown) => e), { status: 403 }, 'not invited');
    const invited = await peer.invite(alice, roomId, u2.id);
    const event = peer.events(roomId).find((e) => e.eventId === invited.eventId)!;
    t.ok((event.pdu.signatures as Record<string, unknown>)[hs], `co-signed by ${hs}`);
    await u2.waitForInvite(roomId, wait);
    t.equal(await u2.join(roomId, [fp.serverName]), roomId);
    await seesMember(roomId, u2.id, 'join');
    t.pass('joined through the invite');
  });

  await t.test('leave and ban, both ways', async (t) => {
    const { roomId } = await peer.createRoom({ creator: alice });
    await u1.join(roomId, [fp.serverName]);
    await u2.join(roomId, [fp.serverName]);
    await seesMember(roomId, u2.id, 'join');
    await u2.leave(roomId);
    await seesMember(roomId, u2.id, 'leave');
    await u2.join(roomId, [fp.serverName]);
    await seesMember(roomId, u2.id, 'join');
    const ban = await peer.sendState(alice, roomId, 'm.room.member', u2.id, { membership: 'ban', reason: 'interop' });
    await u1.waitFor(roomId, (e) => e.event_id === ban.eventId, wait);
    t.match(await u2.join(roomId, [fp.serverName]).catch((e: unknown) => e), { status: 403 }, 'a user fedpeer banned cannot join again');

    const theirs = await u1.createRoom({ preset: 'public_chat' });
    await peer.join(bob, theirs, { via: [hs] });
    await peer.join(carol, theirs, { via: [hs] });
    await u1.waitForState(theirs, 'm.room.member', carol, (c) => c.membership === 'join', wait);
    await peer.leave(carol, theirs);
    t.same(await u1.waitForState(theirs, 'm.room.member', carol, (c) => c.membership === 'leave', wait), { membership: 'leave' }, 'the homeserver saw fedpeer leave');
    await u1.ban(theirs, bob);
    await seesMember(theirs, bob, 'ban');
    t.match(await peer.join(bob, theirs, { via: [hs] }).catch((e: unknown) => e), { status: 403 }, 'a user the homeserver banned cannot join again');
  });

  await t.test('concurrent state changes on both sides fork the room; both resolve to the same state', async (t) => {
    const roomId = await u1.createRoom({ preset: 'public_chat' });
    await peer.join(alice, roomId, { via: [hs] });
    const levels = (await u1.state(roomId, 'm.room.power_levels'))!;
    await sees(roomId, await u1.sendState(roomId, 'm.room.power_levels', '', { ...levels, users: { ...levels.users, [alice]: 50 } }));
    // fedpeer holds the homeserver's next transaction, so its own change is made before it sees the other.
    peer.hooks.onSend = () => ({ delayMs: 2000 });
    const fromHs = await u1.sendState(roomId, 'm.room.topic', '', { topic: 'the homeserver says' });
    const fromPeer = await peer.sendState(alice, roomId, 'm.room.topic', '', { topic: 'fedpeer says' });
    delete peer.hooks.onSend;
    await sees(roomId, fromHs);
    await u1.waitFor(roomId, (e) => e.event_id === fromPeer.eventId, wait);
    t.equal(peer.rooms.data.room(roomId)!.extremities.length, 2, 'fedpeer has two forward extremities');
    const ours = peer.state(roomId).find((s) => s.type === 'm.room.topic')!;
    const theirs = await u1.waitForState(roomId, 'm.room.topic', '', () => true, wait);
    t.equal(ours.content.topic, theirs.topic, `both resolved the topic to "${ours.content.topic}"`);
    // The next event names both extremities and closes the fork on both sides.
    const merge = await peer.send(alice, roomId, 'merge');
    await u1.waitFor(roomId, (e) => e.event_id === merge.eventId, wait);
    t.same(peer.rooms.data.room(roomId)!.extremities, [merge.eventId]);
  });

  await t.test('a restart of fedpeer in the middle: history kept, missed events fetched', async (t) => {
    const roomId = await u1.createRoom({ preset: 'public_chat' });
    await peer.join(bob, roomId, { via: [hs] });
    await sees(roomId, await u1.send(roomId, 'before the restart'));
    const history = peer.events(roomId).map((e) => e.eventId);
    await peer.close();
    const missed: string[] = [];
    for (let i = 0; i < 3; i++) missed.push(await u1.send(roomId, `while fedpeer is down ${i}`));
    peer = await startPeer(options);
    t.same(peer.events(roomId).map((e) => e.eventId), history, 'history kept across the restart');
    // The homeserver retries its refused transaction, or after a longer absence catches up once fedpeer speaks.
    const back = await peer.send(bob, roomId, 'back');
    await u1.waitFor(roomId, (e) => e.event_id === back.eventId, wait);
    const after = await u1.send(roomId, 'after the restart');
    await sees(roomId, after);
    for (const id of missed) await sees(roomId, id);
    t.pass('the events sent while fedpeer was down arrived');
  });

  t.comment(`room versions tested: ${versions.join(', ')}`);
  for (const version of versions) {
    await t.test(`room version ${version}: each side hosts a room the other joins; messages both ways`, async (t) => {
      const theirs = await u1.createRoom({ preset: 'public_chat', room_version: version });
      const joined = await peer.join(alice, theirs, { via: [hs] });
      t.equal(peer.rooms.data.version(theirs).id, version);
      await u1.waitForState(theirs, 'm.room.member', alice, (c) => c.membership === 'join', wait);
      await sees(theirs, await u1.send(theirs, `v${version} from the homeserver`));
      const fromPeer = await peer.send(alice, theirs, `v${version} from fedpeer`);
      await u1.waitFor(theirs, (e) => e.event_id === fromPeer.eventId, wait);
      t.ok(joined.eventId);

      const { roomId } = await peer.createRoom({ creator: bob, roomVersion: version });
      t.equal(await u2.join(roomId, [fp.serverName]), roomId);
      t.equal((await u2.state(roomId, 'm.room.create'))?.room_version, version);
      await seesMember(roomId, u2.id, 'join');
      await sees(roomId, await u2.send(roomId, `v${version} to fedpeer's room`));
      const reply = await peer.send(bob, roomId, `v${version} reply`);
      await u2.waitFor(roomId, (e) => e.event_id === reply.eventId, wait);
    });
  }

  await t.test('fedpeer refused nothing the homeserver sent', async (t) => {
    t.same(refused, []);
  });
}
