// The control API drives a real fedpeer over HTTP while a second fedpeer
// (driven from the library) federates with it: rooms, joins, messages,
// state, invites, leaves, waits, EDUs, events made to order, raw requests,
// hook rules, and what the API answers to bad or unauthenticated input.
import t from 'tap';
import { startPeer, createDevCa } from '../src/index.js';
import { block } from './harness/addresses.js';

const addr = block('control-api');
const ca = await createDevCa();
const A = await startPeer({ ca, bind: addr(1, 1), users: { alice: { displayname: 'Alice' }, amy: {} }, control: true, queueRetry: { initialMs: 100 } });
t.teardown(() => A.close());
const B = await startPeer({ ca, bind: addr(2, 1), users: { bob: {} }, queueRetry: { initialMs: 100 } });
t.teardown(() => B.close());
const control = A.control!;
const alice = `@alice:${A.serverName}`;
const bob = `@bob:${B.serverName}`;
const enc = encodeURIComponent;
const P = '/_fedpeer/control/v1';

interface Answer {
  status: number;
  body: Record<string, any>;
}

async function api(method: string, path: string, body?: unknown, opts: { token?: string | null; raw?: string } = {}): Promise<Answer> {
  const token = opts.token === undefined ? control.token : opts.token;
  const r = await fetch(`${control.url}${P}${path}`, {
    method,
    headers: { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined || opts.raw !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(opts.raw !== undefined ? { body: opts.raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
}

t.test('startPeer({control: true}) serves the API on loopback HTTP with a token', async (t) => {
  t.match(control.url, new RegExp(`^http://${addr(1, 1).replace(/\./g, '\\.')}:\\d+$`));
  t.match(control.token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  const info = await api('GET', '/info');
  t.same(info, { status: 200, body: { server_name: A.serverName, users: [alice, `@amy:${A.serverName}`], room_versions: ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11'], default_room_version: '10' } });
  t.equal(B.control, undefined, 'no control API unless asked');
});

t.test('requests without the right token are 401, whatever the path', async (t) => {
  t.match(await api('GET', '/info', undefined, { token: null }), { status: 401, body: { errcode: 'M_MISSING_TOKEN', error: /Authorization: Bearer/ } });
  t.match(await api('GET', '/info', undefined, { token: 'x' }), { status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } });
  t.match(await api('GET', '/info', undefined, { token: `${control.token}x` }), { status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } });
  t.match(await api('GET', '/info', undefined, { token: control.token.slice(0, -1) }), { status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } });
  t.match(await api('GET', '/nothing-here', undefined, { token: null }), { status: 401 }, 'no path is revealed without the token');
  t.match(await api('POST', '/rooms', undefined, { token: 'wrong', raw: '{"as": ' }), { status: 401 }, 'the body of an unauthenticated request is not parsed');
  const basic = await fetch(`${control.url}${P}/info`, { headers: { authorization: `Basic ${control.token}` } });
  t.equal(basic.status, 401, 'only the Bearer scheme');
  const lower = await fetch(`${control.url}${P}/info`, { headers: { authorization: `bearer ${control.token}` } });
  t.equal(lower.status, 200, 'the scheme is case-insensitive');
  t.match(await api('GET', '/nothing-here'), { status: 404, body: { errcode: 'M_UNRECOGNIZED' } });
  t.match(await api('DELETE', '/info'), { status: 405, body: { errcode: 'M_UNRECOGNIZED' } });
  t.notOk(JSON.stringify(A.server.config).includes(control.token), 'the token is not in a dump of the config');
});

t.test('a room created over HTTP, joined by the other server, messages both ways', async (t) => {
  const created = await api('POST', '/rooms', { as: 'alice', alias: 'http', name: 'Over HTTP', topic: 'control', initial_state: [{ type: 'org.example.state', content: { x: 1 } }] });
  t.match(created, { status: 200, body: { room_id: /^!.+:/, alias: `#http:${A.serverName}` } });
  const roomId = created.body.room_id as string;
  t.same((await api('GET', '/rooms')).body.rooms.includes(roomId), true);
  const joined = await B.join(bob, `#http:${A.serverName}`);
  const seen = await api('POST', `/rooms/${enc(roomId)}/wait`, { match: { event_id: joined.eventId }, timeout_ms: 5000 });
  t.match(seen, { status: 200, body: { event: { event_id: joined.eventId, type: 'm.room.member', state_key: bob, sender: bob, status: 'accepted', content: { membership: 'join' } } } });
  t.ok(seen.body.event.pdu.signatures[B.serverName], 'the event in its wire form');

  const sent = await api('POST', `/rooms/${enc(roomId)}/send`, { as: alice, body: 'hello over HTTP' });
  t.equal(sent.status, 200);
  const got = await B.waitForEvent(roomId, (e) => e.eventId === sent.body.event_id, { timeout: 5000 });
  t.same(got.content, { msgtype: 'm.text', body: 'hello over HTTP' });
  const custom = await api('POST', `/rooms/${enc(roomId)}/send`, { as: alice, type: 'org.example.event', content: { n: 1 } });
  await B.waitForEvent(roomId, (e) => e.eventId === custom.body.event_id && e.type === 'org.example.event', { timeout: 5000 });

  const waiting = api('POST', `/rooms/${enc(roomId)}/wait`, { match: { body: 'reply from B', sender: bob, type: 'm.room.message' }, timeout_ms: 5000 });
  const reply = await B.send(bob, roomId, 'reply from B');
  t.match(await waiting, { status: 200, body: { event: { event_id: reply.eventId, content: { body: 'reply from B' } } } }, 'a wait started before the event arrives');
  t.match(await api('POST', `/rooms/${enc(roomId)}/wait`, { match: { content: { msgtype: 'm.text', body: 'hello over HTTP' } } }), { body: { event: { event_id: sent.body.event_id } } }, 'an event already there');
  t.same(await api('POST', `/rooms/${enc(roomId)}/wait`, { match: { body: 'never sent' }, timeout_ms: 200 }), { status: 200, body: { event: null } }, 'a timeout answers event: null');

  const all = await api('GET', `/rooms/${enc(roomId)}/events`);
  const ids = all.body.events.map((e: { event_id: string }) => e.event_id);
  t.same(ids, A.events(roomId).map((e) => e.eventId), 'the timeline as the library sees it');
  t.equal(all.body.next, undefined);
  const page = await api('GET', `/rooms/${enc(roomId)}/events?from=2&limit=3`);
  t.same(page.body.events.map((e: { event_id: string }) => e.event_id), ids.slice(2, 5));
  t.equal(page.body.next, 5);
  t.same((await api('GET', `/rooms/${enc(roomId)}/events?all=true&limit=1000`)).body.events.length, ids.length);

  const topic = await api('POST', `/rooms/${enc(roomId)}/state`, { as: 'alice', type: 'm.room.topic', content: { topic: 'new topic' } });
  await B.waitForEvent(roomId, (e) => e.eventId === topic.body.event_id, { timeout: 5000 });
  const state = await api('GET', `/rooms/${enc(roomId)}/state`);
  t.match(state.body.state.find((s: { type: string }) => s.type === 'm.room.topic'), { state_key: '', event_id: topic.body.event_id, sender: alice, content: { topic: 'new topic' } });
  t.match(state.body.state.find((s: { type: string }) => s.type === 'org.example.state'), { content: { x: 1 } }, 'initial_state');
  t.match(await api('POST', `/rooms/${enc(roomId)}/state`, { as: 'amy', type: 'm.room.topic', state_key: '', content: { topic: 'no' } }), { status: 403, body: { errcode: 'M_FORBIDDEN' } }, "the room's rules, as the library applies them");
});

t.test('invites both ways, joining by ID with via, leaving', async (t) => {
  const created = await api('POST', '/rooms', { as: 'alice', join_rule: 'invite', room_version: '9' });
  const roomId = created.body.room_id as string;
  t.match(await B.join(bob, roomId).catch((e) => e), { status: 403 }, 'not invited');
  const invited = await api('POST', `/rooms/${enc(roomId)}/invite`, { as: 'alice', user_id: bob });
  t.equal(invited.status, 200);
  const joined = await B.join(bob, roomId);
  t.match(await api('POST', `/rooms/${enc(roomId)}/wait`, { match: { event_id: joined.eventId }, timeout_ms: 5000 }), { body: { event: { state_key: bob } } });

  const theirs = await B.createRoom({ creator: bob, joinRule: 'invite' });
  await B.invite(bob, theirs.roomId, `@amy:${A.serverName}`);
  const invites = await api('GET', `/invites?user=amy`);
  t.match(invites.body.invites, [{ room_id: theirs.roomId, room_version: '10', event: { state_key: `@amy:${A.serverName}`, sender: bob }, invite_room_state: Array }]);
  t.same((await api('GET', `/invites?user=alice`)).body.invites, [], 'per user');
  t.equal((await api('GET', '/invites')).body.invites.length, 1, 'everyone');
  const amyJoin = await api('POST', `/rooms/${enc(theirs.roomId)}/join`, { as: 'amy', via: [B.serverName] });
  t.match(amyJoin, { status: 200, body: { room_id: theirs.roomId, event_id: /^\$/ } });
  await B.waitForEvent(theirs.roomId, (e) => e.eventId === amyJoin.body.event_id, { timeout: 5000 });
  const left = await api('POST', `/rooms/${enc(theirs.roomId)}/leave`, { as: 'amy' });
  await B.waitForEvent(theirs.roomId, (e) => e.eventId === left.body.event_id, { timeout: 5000 });
  t.equal(B.state(theirs.roomId).find((s) => s.stateKey === `@amy:${A.serverName}`)?.content.membership, 'leave');

  const pub = await B.createRoom({ creator: bob, alias: 'bobs' });
  const byAlias = await api('POST', `/rooms/${enc(`#bobs:${B.serverName}`)}/join`, { as: 'alice' });
  t.match(byAlias, { status: 200, body: { room_id: pub.roomId } }, 'by alias, through the directory query');
  t.match(await api('POST', `/rooms/${enc(`#nobody:${B.serverName}`)}/join`, { as: 'alice' }), { status: 502, body: { errcode: 'M_UNKNOWN', error: /federation request failed: .*404/, remote_status: 404, remote_body: { errcode: 'M_NOT_FOUND' } } }, "the remote's answer is passed on");
});

t.test('hook rules: reject, delay and respond, counted, observed and cleared', async (t) => {
  const { body: room } = await api('POST', '/rooms', { as: 'alice' });
  const other = await api('POST', '/rooms', { as: 'alice' });
  const rule = await api('POST', '/hooks/rules', { endpoint: 'make_join', match: { room_id: room.room_id }, reject: { status: 403, errcode: 'M_FORBIDDEN', error: 'closed by a rule' } });
  t.match(rule, { status: 200, body: { rule_id: /^r\d+$/, endpoint: 'make_join', match: { room_id: room.room_id }, reject: { status: 403 }, hits: 0 } });
  t.match(await B.join(bob, room.room_id).catch((e) => e), { status: 403, message: /closed by a rule/ });
  const joinedOther = await B.join(bob, other.body.room_id);
  t.ok(joinedOther.eventId, 'a rule for one room leaves the others alone');
  t.match((await api('GET', '/hooks/rules')).body.rules, [{ rule_id: rule.body.rule_id, hits: 1 }]);
  const seen = await api('GET', `/hooks/requests?endpoint=make_join`);
  const makeJoins = seen.body.requests.filter((r: { params: { room_id: string } }) => r.params.room_id === room.room_id);
  t.match(makeJoins, [{ endpoint: 'make_join', origin: B.serverName, params: { room_id: room.room_id, user_id: bob }, query: { ver: Array }, rule_id: rule.body.rule_id }]);
  t.same(await api('DELETE', `/hooks/rules/${rule.body.rule_id}`), { status: 200, body: {} });
  t.match(await api('DELETE', `/hooks/rules/${rule.body.rule_id}`), { status: 404, body: { errcode: 'M_NOT_FOUND' } });
  await B.join(bob, room.room_id);

  // A transaction held for a while, once: sent by A's queue, delayed at B? No: rules act on what A receives.
  const delayed = await api('POST', '/hooks/rules', { endpoint: 'send', match: { origin: B.serverName, room_id: room.room_id }, delay_ms: 300, times: 1 });
  const started = Date.now();
  const msg = await B.send(bob, room.room_id, 'held');
  await A.waitForEvent(room.room_id, (e) => e.eventId === msg.eventId, { timeout: 5000 });
  t.ok(Date.now() - started >= 250, 'the transaction waited');
  t.same((await api('GET', '/hooks/rules')).body.rules.map((r: { rule_id: string }) => r.rule_id).includes(delayed.body.rule_id), false, 'times: 1 removes it after use');

  const since = seen.body.requests.at(-1).seq as number;
  await api('POST', '/hooks/rules', { endpoint: 'query_directory', respond: { room_id: '!made:up', servers: ['nowhere'] } });
  await api('POST', '/hooks/rules', { endpoint: '*', match: { user_id: '@nobody:x' }, reject: { status: 404, errcode: 'M_NOT_FOUND' } });
  const answer = await B.request(A.serverName, 'GET', `/_matrix/federation/v1/query/directory?room_alias=${enc(`#x:${A.serverName}`)}`);
  t.same(answer, { status: 200, body: { room_id: '!made:up', servers: ['nowhere'] } });
  const devices = await B.request(A.serverName, 'GET', `/_matrix/federation/v1/user/devices/${enc('@nobody:x')}`);
  t.match(devices, { status: 404, body: { errcode: 'M_NOT_FOUND', error: 'Refused by a hook' } });
  const later = await api('GET', `/hooks/requests?since=${since}&limit=1000`);
  t.ok(later.body.requests.every((r: { seq: number }) => r.seq > since), 'since');
  t.ok(later.body.requests.some((r: { endpoint: string; query: { room_alias?: string } }) => r.endpoint === 'query_directory' && r.query.room_alias === `#x:${A.serverName}`));
  t.equal((await api('GET', `/hooks/requests?since=${since}&limit=1`)).body.requests.length, 1, 'limit');
  t.same(await api('DELETE', '/hooks/rules'), { status: 200, body: { removed: 2 } });
  t.same((await api('GET', '/hooks/rules')).body.rules, []);

  // A library hook and a rule together: the rule is asked first, the hook still runs when no rule decides.
  let hookSaw = 0;
  A.hooks.onRequest = () => {
    hookSaw++;
  };
  t.teardown(() => delete A.hooks.onRequest);
  await B.request(A.serverName, 'GET', `/_matrix/federation/v1/user/devices/${enc(alice)}`);
  t.equal(hookSaw, 1);
});

t.test('events made to order, transactions and raw federation requests', async (t) => {
  const roomId = (await B.createRoom({ creator: bob })).roomId;
  await api('POST', `/rooms/${enc(roomId)}/join`, { as: 'alice' });
  const forged = await api('POST', '/build-event', { room_id: roomId, sender: alice, type: 'm.room.message', content: { body: 'forged' }, signature: 'bad' });
  t.match(forged, { status: 200, body: { event_id: /^\$/, pdu: { room_id: roomId, sender: alice, content: { body: 'forged' } } } });
  const sent = await api('POST', '/send-transaction', { destination: B.serverName, pdus: [forged.body.pdu], txn_id: 'forged-1' });
  t.match(sent, { status: 200, body: { status: 200, body: { pdus: { [forged.body.event_id]: { error: /signature/i } } } } });
  const good = await api('POST', '/build-event', { room_id: roomId, sender: alice, type: 'm.room.message', content: { body: 'made to order' }, origin_server_ts: 1234, extra: { unsigned: { x: 1 } } });
  const ok = await api('POST', '/send-transaction', { destination: B.serverName, pdus: [good.body.pdu], edus: [{ edu_type: 'm.typing', content: { room_id: roomId, user_id: alice, typing: true } }] });
  t.same(ok.body, { status: 200, body: { pdus: { [good.body.event_id]: {} } } });
  await B.waitForEvent(roomId, (e) => e.eventId === good.body.event_id, { timeout: 5000 });
  t.ok(B.edus({ type: 'm.typing' }).some((e) => e.origin === A.serverName), 'the EDU arrived');
  const noVersion = await api('POST', '/build-event', { room_id: '!unknown:x', sender: alice, type: 'm.room.message' });
  t.match(noVersion, { status: 400, body: { error: /roomVersion/ } });
  const v1 = await api('POST', '/build-event', { room_id: '!unknown:x', sender: alice, type: 'm.room.message', room_version: '1', prev_events: [], auth_events: [], depth: 7, signature: 'none', hash: 'bad' });
  t.match(v1, { status: 200, body: { pdu: { depth: 7, event_id: /^\$.+:/ } } });

  t.match(await api('POST', '/federation-request', { destination: B.serverName, path: '/_matrix/federation/v1/version' }), { status: 200, body: { status: 200, body: { server: { name: 'fedpeer' } } } });
  t.match(await api('POST', '/federation-request', { destination: B.serverName, method: 'PUT', path: '/_matrix/federation/v1/send/x', body: { pdus: 'no' } }), { status: 200, body: { status: 400, body: { errcode: 'M_BAD_JSON' } } }, "a remote error is the answer's status");
  const unreachable = await api('POST', '/federation-request', { destination: `${addr(9, 9)}:1`, path: '/_matrix/federation/v1/version' });
  t.match(unreachable, { status: 502, body: { errcode: 'M_UNKNOWN', error: /^federation request failed: connect/, server_name: `${addr(9, 9)}:1` } });
});

t.test('EDUs received', async (t) => {
  const before = (await api('GET', '/edus')).body.edus as Array<{ seq: number }>;
  const since = before.at(-1)?.seq ?? 0;
  await B.sendTransaction(A.serverName, { edus: [{ edu_type: 'm.receipt', content: {} }, { edu_type: 'm.presence', content: { push: [] } }, { edu_type: 'm.presence', content: { push: [] } }] });
  t.match((await api('GET', `/edus?since=${since}`)).body.edus, [{ origin: B.serverName, edu: { edu_type: 'm.receipt' }, seq: Number, received_ts: Number }, { edu: { edu_type: 'm.presence' } }, { edu: { edu_type: 'm.presence' } }]);
  t.equal((await api('GET', `/edus?since=${since}&type=m.presence`)).body.edus.length, 2);
  const page = await api('GET', `/edus?since=${since}&limit=1`);
  t.equal(page.body.edus.length, 1);
  t.equal(page.body.next, page.body.edus[0].seq, 'next is the since of the following page');
});

t.test('bad input: every field named, nothing changed', async (t) => {
  const roomsBefore = A.rooms.rooms().length;
  const cases: Array<[string, string, unknown, number, string, RegExp]> = [
    ['POST', '/rooms', {}, 400, 'M_MISSING_PARAM', /^as: required/],
    ['POST', '/rooms', { as: 'alice', romo_version: '9' }, 400, 'M_INVALID_PARAM', /unknown field "romo_version"; known: as, room_version/],
    ['POST', '/rooms', { as: 'mallory' }, 400, 'M_INVALID_PARAM', /as: @mallory:.* is not a local user .*test_users: @alice/],
    ['POST', '/rooms', { as: 42 }, 400, 'M_INVALID_PARAM', /as: expected a local user/],
    ['POST', '/rooms', { as: 'alice', room_version: '99' }, 400, 'M_UNSUPPORTED_ROOM_VERSION', /99/],
    ['POST', '/rooms', { as: 'alice', join_rule: 'knock' }, 400, 'M_INVALID_PARAM', /join_rule: expected one of public, invite, got "knock"/],
    ['POST', '/rooms', { as: 'alice', alias: 'a:b' }, 400, 'M_INVALID_PARAM', /alias: expected an alias local part/],
    ['POST', '/rooms', { as: 'alice', initial_state: [{ type: 'x' }] }, 400, 'M_MISSING_PARAM', /^content: required/],
    ['POST', '/rooms', { as: 'alice', initial_state: [{ type: 'x', content: [] }] }, 400, 'M_INVALID_PARAM', /initial_state\[0\]\.content|content: expected a JSON object/],
    ['POST', '/rooms', [], 400, 'M_BAD_JSON', /request body: expected a JSON object/],
    ['POST', '/rooms/not-a-room/send', { as: 'alice', body: 'x' }, 400, 'M_INVALID_PARAM', /room: expected a room ID/],
    ['POST', `/rooms/${enc('!r:x')}/send`, { as: 'alice' }, 400, 'M_MISSING_PARAM', /either body .* or content/],
    ['POST', `/rooms/${enc('!r:x')}/send`, { as: 'alice', body: 'x', content: {} }, 400, 'M_MISSING_PARAM', /either body/],
    ['POST', `/rooms/${enc('!r:x')}/send`, { as: 'alice', body: 'x' }, 404, 'M_NOT_FOUND', /!r:x/],
    ['GET', `/rooms/${enc('!r:x')}/events`, undefined, 404, 'M_NOT_FOUND', /!r:x/],
    ['GET', `/rooms/${enc('!r:x')}/events?limit=0`, undefined, 400, 'M_INVALID_PARAM', /limit: expected an integer from 1 to 1000, got "0"/],
    ['GET', `/rooms/${enc('!r:x')}/events?all=maybe`, undefined, 400, 'M_INVALID_PARAM', /all: expected true or false/],
    ['GET', `/rooms/${enc('!r:x')}/events?sort=asc`, undefined, 400, 'M_INVALID_PARAM', /query: unknown field "sort"/],
    ['POST', `/rooms/${enc('!r:x')}/wait`, { timeout_ms: 1_000_000 }, 400, 'M_INVALID_PARAM', /timeout_ms: expected an integer from 0 to 120000/],
    ['POST', `/rooms/${enc('!r:x')}/wait`, { match: { sender: 'bob' } }, 400, 'M_INVALID_PARAM', /sender: expected a user ID/],
    ['POST', `/rooms/${enc('!r:x')}/wait`, { match: { colour: 'red' } }, 400, 'M_INVALID_PARAM', /match: unknown field "colour"/],
    ['POST', `/rooms/${enc('!r:x')}/invite`, { as: 'alice', user_id: 'bob' }, 400, 'M_INVALID_PARAM', /user_id: expected a user ID/],
    ['POST', `/rooms/${enc('!r:x')}/join`, { as: 'alice', via: ['not a server'] }, 400, 'M_INVALID_PARAM', /via\[0\]: expected a server name/],
    ['POST', `/rooms/${enc('!r:x')}/join`, { as: 'alice', via: 'b.test' }, 400, 'M_INVALID_PARAM', /via: expected a list of at most 20 entries/],
    ['POST', `/rooms/${enc('!r:x')}/leave`, { as: 'alice' }, 404, 'M_NOT_FOUND', /neither in nor invited/],
    ['GET', '/invites?user=nobody', undefined, 400, 'M_INVALID_PARAM', /user: @nobody/],
    ['GET', '/edus?since=-1', undefined, 400, 'M_INVALID_PARAM', /since: expected an integer from 0/],
    ['POST', '/build-event', { room_id: '!r:x', sender: alice, type: 'x', signature: 'maybe' }, 400, 'M_INVALID_PARAM', /signature: expected one of valid, bad, none/],
    ['POST', '/build-event', { room_id: '!r:x', sender: alice, type: 'x', depth: 1.5 }, 400, 'M_INVALID_PARAM', /depth: expected an integer/],
    ['POST', '/send-transaction', { pdus: [] }, 400, 'M_MISSING_PARAM', /destination: required/],
    ['POST', '/send-transaction', { destination: 'b.test', pdus: {} }, 400, 'M_INVALID_PARAM', /pdus: expected a list of at most 1000 entries/],
    ['POST', '/federation-request', { destination: 'b.test', path: 'no-slash' }, 400, 'M_INVALID_PARAM', /path: expected a path starting with "\/"/],
    ['POST', '/federation-request', { destination: 'b.test', path: '/x', method: 'PATCH' }, 400, 'M_INVALID_PARAM', /method: expected one of GET, PUT, POST, DELETE/],
    ['POST', '/hooks/rules', { endpoint: 'make_join' }, 400, 'M_MISSING_PARAM', /reject, delay_ms or respond/],
    ['POST', '/hooks/rules', { endpoint: 'make_coffee', delay_ms: 1 }, 400, 'M_INVALID_PARAM', /endpoint: expected one of send, make_join/],
    ['POST', '/hooks/rules', { endpoint: 'send', delay_ms: 600_000 }, 400, 'M_INVALID_PARAM', /delay_ms: expected an integer from 0 to 60000/],
    ['POST', '/hooks/rules', { endpoint: 'send', reject: { status: 200, errcode: 'M_X' } }, 400, 'M_INVALID_PARAM', /status: expected an integer from 400 to 599/],
    ['POST', '/hooks/rules', { endpoint: 'send', reject: { status: 403, errcode: 'has space' } }, 400, 'M_INVALID_PARAM', /errcode: expected an error code/],
    ['POST', '/hooks/rules', { endpoint: 'send', reject: { status: 403, errcode: 'M_X' }, respond: {} }, 400, 'M_INVALID_PARAM', /either rejects or responds/],
    ['POST', '/hooks/rules', { endpoint: 'send', delay_ms: 1, match: { room_id: 'x' } }, 400, 'M_INVALID_PARAM', /room_id: expected a room ID/],
    ['GET', '/hooks/requests?endpoint=nope', undefined, 400, 'M_INVALID_PARAM', /endpoint: expected one of/],
  ];
  for (const [method, path, body, status, errcode, error] of cases) {
    t.match(await api(method, path, body), { status, body: { errcode, error } }, `${method} ${path} ${JSON.stringify(body)}`);
  }
  t.match(await api('POST', '/rooms', undefined, { raw: '{"as": "alice",' }), { status: 400, body: { errcode: 'M_NOT_JSON' } });
  t.match(await api('POST', '/rooms', undefined, { raw: JSON.stringify({ as: 'alice', topic: 'x'.repeat(1024 * 1024) }) }), { status: 413, body: { errcode: 'M_TOO_LARGE' } });
  t.match(await api('POST', '/rooms', undefined, { raw: JSON.stringify({ as: 'alice', topic: 'x'.repeat(10_001) }) }), { status: 400, body: { error: /topic: expected a string of at most 10000 characters, got "x{79}…/ } }, 'long values are cut in the message');
  t.equal(A.rooms.rooms().length, roomsBefore, 'no room was made by bad input');
  for (let i = 0; i < 100; i++) t.equal((await api('POST', '/hooks/rules', { endpoint: 'event', match: { event_id: `$x${i}` }, delay_ms: 1 })).status, 200);
  t.match(await api('POST', '/hooks/rules', { endpoint: 'event', delay_ms: 1 }), { status: 400, body: { error: /at most 100 rules/ } });
  t.same(await api('DELETE', '/hooks/rules'), { status: 200, body: { removed: 100 } });
  t.equal((await api('GET', '/info')).status, 200, 'still serving');
});

t.test('waits are bounded, and a client that hangs up ends its wait', async (t) => {
  const roomId = (await api('POST', '/rooms', { as: 'alice' })).body.room_id as string;
  const { buildControlApp } = await import('../src/control/app.js');
  const { createHookRules } = await import('../src/control/hook-rules.js');
  const { requestListener } = await import('../src/server/app.js');
  const http = await import('node:http');
  const app = await buildControlApp(A.server.config, {
    token: 'a-test-token-of-16+',
    peer: A.rooms,
    rules: createHookRules(),
    federation: { request: async () => ({ status: 200, body: {} }), sendTransaction: async () => ({ status: 200, body: {} }) },
    logger: (await import('pino')).pino({ level: 'silent' }),
    maxWaits: 1,
  });
  const server = http.createServer(requestListener(app));
  await new Promise<void>((r) => server.listen(0, addr(1, 2), r));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await app.close();
  });
  const { port } = server.address() as { port: number };
  const post = (body: unknown, signal?: AbortSignal) =>
    fetch(`http://${addr(1, 2)}:${port}${P}/rooms/${enc(roomId)}/wait`, {
      method: 'POST',
      headers: { authorization: 'Bearer a-test-token-of-16+', 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(signal ? { signal } : {}),
    });
  const abort = new AbortController();
  const first = post({ match: { body: 'never' }, timeout_ms: 60_000 }, abort.signal).catch((e: Error) => e.name);
  await new Promise((r) => setTimeout(r, 200));
  const second = await post({ match: { body: 'never' }, timeout_ms: 10 });
  t.match({ status: second.status, body: await second.json() }, { status: 429, body: { errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: 1000 } }, 'one wait at a time here');
  abort.abort();
  t.equal(await first, 'AbortError');
  // The abandoned wait gives its place back at once, long before its 60 s.
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 20));
    status = (await post({ match: { body: 'never' }, timeout_ms: 10 })).status;
  }
  t.equal(status, 200);
});
