// parsePdu's format checks: one row per rule, run against every room version
// it applies to, each with a valid and an invalid case.
import t from 'tap';
import { generateSigningKey } from '../src/matrix/signing-key.js';
import {
  computeEventId,
  EventFormatError,
  JsonNumberLiteral,
  MAX_NESTING,
  MAX_PDU_BYTES,
  eventCanonicalJson,
  parseEventJson,
  parsePdu,
  roomVersion,
  supportedRoomVersions,
  type Pdu,
  type RoomVersion,
} from '../src/matrix/events/index.js';
import { sampleEvent, sampleRef } from './harness/sample-events.js';

const key = generateSigningKey('fmt');
const VERSIONS = supportedRoomVersions().map((id) => roomVersion(id)!);
type Mutate = (pdu: Pdu, v: RoomVersion) => unknown;
const set = (k: string, value: unknown): Mutate => (p) => ({ ...p, [k]: value });
const drop = (k: string): Mutate => (p) => {
  const { [k]: _gone, ...rest } = p;
  return rest;
};
const withContent = (extra: Record<string, unknown>): Mutate => (p) => ({ ...p, content: { ...(p.content as object), ...extra } });
const long = (n: number, ch = 'a') => ch.repeat(n);
const lenient = (v: RoomVersion) => !v.strictCanonicalJson;
const format1 = (v: RoomVersion) => v.eventFormat === 1;

interface Row {
  rule: string;
  /** The versions the row applies to (all by default). */
  when?: (v: RoomVersion) => boolean;
  mutate: Mutate;
  /** 'ok', or the reason the event is refused. */
  expect: 'ok' | RegExp;
  /** Refused, but Synapse would keep it as rejected. */
  persist?: boolean;
}

// 255-byte fields written in 3-byte characters: 86 of them are 258 bytes but 86 code points.
const wide = long(86, '€');

const ROWS: Row[] = [
  { rule: 'a valid event', mutate: (p) => p, expect: 'ok' },
  { rule: 'an array is not an event', mutate: () => [], expect: /^the event must be a JSON object$/ },
  { rule: 'null is not an event', mutate: () => null, expect: /must be a JSON object/ },
  // type
  { rule: 'type missing', mutate: drop('type'), expect: /^type: missing$/ },
  { rule: 'type not a string', mutate: set('type', 5), expect: /^type: must be a string$/ },
  { rule: 'type of 255 bytes', mutate: set('type', long(255)), expect: 'ok' },
  { rule: 'type of 256 bytes', mutate: set('type', long(256)), expect: /^type: 256 bytes, more than 255$/ },
  { rule: 'type over 255 bytes within 255 code points', mutate: set('type', wide), expect: /^type: 258 bytes/, persist: true },
  // room_id
  { rule: 'room_id missing', mutate: drop('room_id'), expect: /^room_id: missing$/ },
  { rule: 'room_id not a string', mutate: set('room_id', ['!a:b']), expect: /^room_id: must be a string$/ },
  { rule: 'room_id without !', mutate: set('room_id', '#room:origin.test'), expect: /^room_id: "#room:origin.test" does not start with "!"$/ },
  { rule: 'room_id without a server', mutate: set('room_id', '!room'), expect: /room_id: "!room" has no ":server_name" part/ },
  { rule: 'room_id with a bad server name', mutate: set('room_id', '!room:bad_host!'), expect: /room_id: .* has an invalid server name "bad_host!"/ },
  { rule: 'room_id with a port and IPv6', mutate: set('room_id', '!room:[::1]:8448'), expect: 'ok' },
  { rule: 'room_id of 256 bytes', mutate: set('room_id', `!${long(243)}:origin.test`), expect: /^room_id: 256 bytes/ },
  // sender
  { rule: 'sender missing', mutate: drop('sender'), expect: /^sender: missing$/ },
  { rule: 'sender without @', mutate: set('sender', 'alice:origin.test'), expect: /sender: .* does not start with "@"/ },
  { rule: 'sender with historical characters in the localpart', mutate: set('sender', '@Alice Smith/™:origin.test'), expect: 'ok' },
  { rule: 'sender of 256 bytes', mutate: set('sender', `@${long(243)}:origin.test`), expect: /^sender: 256 bytes/ },
  // state_key
  { rule: 'empty state_key', mutate: set('state_key', ''), expect: 'ok' },
  { rule: 'state_key not a string', mutate: set('state_key', null), expect: /^state_key: must be a string$/ },
  { rule: 'state_key of 256 bytes', mutate: set('state_key', long(256)), expect: /^state_key: 256 bytes/ },
  { rule: 'state_key over 255 bytes within 255 code points', mutate: set('state_key', wide), expect: /^state_key: 258 bytes/, persist: true },
  // content
  { rule: 'content missing', mutate: drop('content'), expect: /^content: missing$/ },
  { rule: 'content an array', mutate: set('content', []), expect: /^content: must be an object$/ },
  // depth
  { rule: 'depth missing', mutate: drop('depth'), expect: /^depth: missing$/ },
  { rule: 'depth a string', mutate: set('depth', '7'), expect: /^depth: must be an integer$/ },
  { rule: 'depth negative', mutate: set('depth', -1), expect: /^depth: -1 is out of range$/ },
  { rule: 'depth 0', mutate: set('depth', 0), expect: 'ok' },
  { rule: 'depth 2^53-1', mutate: set('depth', Number.MAX_SAFE_INTEGER), expect: 'ok' },
  { rule: 'depth 2^53 (v6+: not canonical JSON)', when: (v) => !lenient(v), mutate: set('depth', 2 ** 53), expect: /^depth: integer out of range .* \(room version \d+ allows only integers within ±\(2\^53-1\)\)$/ },
  { rule: 'depth 2^63-1 (v1-5)', when: lenient, mutate: set('depth', new JsonNumberLiteral('9223372036854775807')), expect: 'ok' },
  { rule: 'depth 2^63 (v1-5)', when: lenient, mutate: set('depth', new JsonNumberLiteral('9223372036854775808')), expect: /^depth: 9223372036854775808 is out of range$/ },
  { rule: 'depth 7.0 (v1-5: a float)', when: lenient, mutate: set('depth', new JsonNumberLiteral('7.0')), expect: /^depth: must be an integer, got 7\.0$/ },
  { rule: 'depth 1.5', mutate: set('depth', 1.5), expect: /^depth: (must be an integer|not an integer: 1\.5)/ },
  // origin_server_ts
  { rule: 'origin_server_ts missing', mutate: drop('origin_server_ts'), expect: /^origin_server_ts: missing$/ },
  { rule: 'origin_server_ts a string', mutate: set('origin_server_ts', 'now'), expect: /^origin_server_ts: must be an integer$/ },
  { rule: 'origin_server_ts beyond 2^53 (v1-5)', when: lenient, mutate: set('origin_server_ts', 2 ** 60), expect: /^origin_server_ts: 1152921504606846976 is out of range$/ },
  // hashes, signatures
  { rule: 'hashes missing', mutate: drop('hashes'), expect: /^hashes: missing$/ },
  { rule: 'hashes without sha256', mutate: set('hashes', { sha512: 'x' }), expect: /^hashes: must be an object with a "sha256" string$/ },
  { rule: 'signatures missing', mutate: drop('signatures'), expect: /^signatures: missing$/ },
  { rule: 'signatures an array', mutate: set('signatures', []), expect: /^signatures: must be an object$/ },
  { rule: 'signatures of a server not an object', mutate: set('signatures', { 'origin.test': 'sig' }), expect: /^signatures\.origin\.test: must be an object of key ID to signature$/ },
  { rule: 'a signature not a string', mutate: set('signatures', { 'origin.test': { 'ed25519:x': 1 } }), expect: /^signatures\.origin\.test\.ed25519:x: must be a string$/ },
  { rule: 'no signatures at all (format only)', mutate: set('signatures', {}), expect: 'ok' },
  // prev_events, auth_events
  { rule: 'prev_events missing', mutate: drop('prev_events'), expect: /^prev_events: missing$/ },
  { rule: 'prev_events not an array', mutate: set('prev_events', {}), expect: /^prev_events: must be an array$/ },
  { rule: 'prev_events empty', mutate: set('prev_events', []), expect: 'ok' },
  { rule: '20 prev_events', mutate: (p, v) => ({ ...p, prev_events: refs(v, 20) }), expect: 'ok' },
  { rule: '21 prev_events', mutate: (p, v) => ({ ...p, prev_events: refs(v, 21) }), expect: /^prev_events: 21 entries, at most 20 allowed$/ },
  { rule: '10 auth_events', mutate: (p, v) => ({ ...p, auth_events: refs(v, 10) }), expect: 'ok' },
  { rule: '11 auth_events', mutate: (p, v) => ({ ...p, auth_events: refs(v, 11) }), expect: /^auth_events: 11 entries, at most 10 allowed$/ },
  { rule: 'auth_events missing', mutate: drop('auth_events'), expect: /^auth_events: missing$/ },
  { rule: 'v1/v2 reference not a pair', when: format1, mutate: set('prev_events', ['$a:b']), expect: /^prev_events\[0\]: must be an \[event_id, \{"sha256": hash\}\] pair$/ },
  { rule: 'v1/v2 reference without an event ID', when: format1, mutate: set('prev_events', [['a:b', {}]]), expect: /^prev_events\[0\]: must start with a "\$event:server" event ID$/ },
  { rule: 'v1/v2 reference without hashes', when: format1, mutate: set('auth_events', [['$a:b', 'x']]), expect: /^auth_events\[0\]: the second element must be a hashes object$/ },
  { rule: 'v1/v2 reference with a bad sha256', when: format1, mutate: set('auth_events', [['$a:b', { sha256: 5 }]]), expect: /^auth_events\[0\]: sha256 must be a string$/ },
  { rule: 'v1/v2 reference with empty hashes', when: format1, mutate: set('auth_events', [['$a:b', {}]]), expect: 'ok' },
  { rule: 'v3+ reference as a v1 pair', when: (v) => !format1(v), mutate: set('prev_events', [['$a:b', {}]]), expect: /^prev_events\[0\]: must be an event ID of room version \d+/ },
  { rule: 'v3+ reference of the wrong alphabet', when: (v) => !format1(v), mutate: (p, v) => ({ ...p, prev_events: [`$${(v.eventFormat === 2 ? '-' : '+').repeat(43)}`] }), expect: /^prev_events\[0\]: must be an event ID of room version \d+ \("\$" and 43 (standard|URL-safe) base64 characters\)$/ },
  { rule: 'v3+ reference of the wrong length', when: (v) => !format1(v), mutate: set('auth_events', [`$${long(42)}`]), expect: /^auth_events\[0\]: must be an event ID/ },
  // event_id
  { rule: 'v1/v2 event_id missing', when: format1, mutate: drop('event_id'), expect: /^event_id: missing$/ },
  { rule: 'v1/v2 event_id without $', when: format1, mutate: set('event_id', 'e:origin.test'), expect: /^event_id: "e:origin.test" does not start with "\$"$/ },
  { rule: 'v1/v2 event_id with a bad server', when: format1, mutate: set('event_id', '$e:-_-'), expect: /^event_id: .* has an invalid server name/ },
  { rule: 'v1/v2 event_id of 256 bytes', when: format1, mutate: set('event_id', `$${long(243)}:origin.test`), expect: /^event_id: 256 bytes/ },
  { rule: 'v3+ event carrying an event_id', when: (v) => !format1(v), mutate: set('event_id', '$x:origin.test'), expect: /^event_id: not allowed in room version \d+, where the ID is the reference hash$/ },
  // redacts
  { rule: 'redacts a string', mutate: set('redacts', '$x:origin.test'), expect: 'ok' },
  { rule: 'top-level redacts not a string (v1-10)', when: (v) => !v.redactsInContent, mutate: set('redacts', 5), expect: /^redacts: must be an event ID string$/ },
  { rule: 'top-level redacts not a string (v11 ignores it)', when: (v) => v.redactsInContent, mutate: set('redacts', 5), expect: 'ok' },
  { rule: 'content.redacts not a string (v11)', when: (v) => v.redactsInContent, mutate: withContent({ redacts: 5 }), expect: /^content\.redacts: must be an event ID string$/ },
  // restricted joins
  {
    rule: 'join_authorised_via_users_server not a user ID (v8+ join)',
    when: (v) => v.restrictedJoinRule,
    mutate: (p) => ({ ...p, type: 'm.room.member', state_key: '@alice:origin.test', content: { membership: 'join', join_authorised_via_users_server: 'nobody' } }),
    expect: /^content\.join_authorised_via_users_server: "nobody" does not start with "@"$/,
  },
  {
    rule: 'join_authorised_via_users_server a number (v8+ join)',
    when: (v) => v.restrictedJoinRule,
    mutate: (p) => ({ ...p, type: 'm.room.member', state_key: '@alice:origin.test', content: { membership: 'join', join_authorised_via_users_server: 5 } }),
    expect: /^content\.join_authorised_via_users_server: must be a user ID string$/,
  },
  {
    rule: 'join_authorised_via_users_server means nothing before v8 or off joins',
    when: (v) => !v.restrictedJoinRule,
    mutate: (p) => ({ ...p, type: 'm.room.member', state_key: '@alice:origin.test', content: { membership: 'join', join_authorised_via_users_server: 5 } }),
    expect: 'ok',
  },
  // canonical JSON and size
  { rule: 'a float in content (v6+)', when: (v) => !lenient(v), mutate: withContent({ n: 0.5 }), expect: /^content\.n: not an integer: 0\.5 \(room version \d+ allows only integers within/ },
  { rule: 'a float in content (v1-5)', when: lenient, mutate: withContent({ n: 0.5, m: new JsonNumberLiteral('1.0') }), expect: 'ok' },
  { rule: 'a big integer in unsigned (v6+)', when: (v) => !lenient(v), mutate: set('unsigned', { age: 2 ** 60 }), expect: /^unsigned\.age: integer out of range/ },
  { rule: 'infinity (no version encodes it)', mutate: withContent({ n: new JsonNumberLiteral('1e400') }), expect: /^content\.n: (out of range float|not an integer)/ },
  { rule: 'a lone surrogate', mutate: withContent({ s: 'a\ud800' }), expect: /^content\.s: string contains a lone surrogate$/ },
  { rule: 'a lone surrogate in a content key', mutate: withContent({ 'k\udc00': 1 }), expect: /^content\.k\udc00: string contains a lone surrogate$/ },
  { rule: 'a lone surrogate in a top-level key', mutate: set('x\ud800', 1), expect: /^x\ud800: string contains a lone surrogate$/ },
  { rule: 'nested too deeply', mutate: withContent({ deep: nest(MAX_NESTING) }), expect: /^content\.deep(\[0\])+: nested deeper than 1000 levels$/ },
  { rule: 'a value JSON cannot hold', mutate: withContent({ u: undefined }), expect: /^content\.u: cannot encode undefined$/ },
  { rule: 'exactly 65536 bytes', mutate: (p) => padTo(p, MAX_PDU_BYTES), expect: 'ok' },
  { rule: '65537 bytes', mutate: (p) => padTo(p, MAX_PDU_BYTES + 1), expect: /^the event is 65537 bytes in canonical JSON, more than 65536$/ },
  { rule: 'unsigned of any shape', mutate: set('unsigned', 'whatever'), expect: 'ok' },
];

function refs(v: RoomVersion, n: number) {
  return Array.from({ length: n }, (_, i) => {
    const r = sampleRef(v, `r${i}`);
    return typeof r === 'string' ? r : [(r as { eventId: string }).eventId, { sha256: (r as { sha256: string }).sha256 }];
  });
}

function nest(levels: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

/** The event with content.pad sized so the whole PDU is `bytes` long in canonical JSON. */
function padTo(p: Pdu, bytes: number): Pdu {
  const base = { ...p, content: { ...(p.content as object), pad: '' } };
  const size = Buffer.byteLength(eventCanonicalJson(base, false));
  return { ...base, content: { ...(p.content as object), pad: long(bytes - size) } };
}

t.test('format checks, one row per rule, every room version', async (t) => {
  let cases = 0;
  for (const v of VERSIONS) {
    const base = sampleEvent(v, key);
    for (const row of ROWS) {
      if (row.when && !row.when(v)) continue;
      cases++;
      const input = row.mutate(base, v);
      const name = `v${v.id}: ${row.rule}`;
      if (row.expect === 'ok') {
        try {
          const ev = parsePdu(input, v);
          t.equal(ev.eventId, computeEventId(input as Pdu, v), `${name}: accepted`);
        } catch (e) {
          t.fail(`${name}: refused: ${(e as Error).message}`);
        }
        continue;
      }
      try {
        parsePdu(input, v);
        t.fail(`${name}: accepted`);
      } catch (e) {
        t.ok(e instanceof EventFormatError, `${name}: EventFormatError`);
        t.match((e as EventFormatError).reason, row.expect, name);
        t.equal((e as EventFormatError).persistAsRejected, row.persist === true && v.lenientFieldByteLimits, `${name}: ${row.persist && v.lenientFieldByteLimits ? 'kept as rejected (Synapse)' : 'dropped'}`);
      }
    }
  }
  t.ok(cases > ROWS.length * 8, `${cases} cases`);
});

t.test('a RoomEvent: typed fields, frozen wire form, the same answers from the cache', async (t) => {
  for (const v of VERSIONS) {
    const pdu = sampleEvent(v, key, { type: 'm.room.redaction', stateKey: undefined, redacts: '$gone:origin.test', content: { reason: 'spam' } });
    const ev = parsePdu(pdu, v);
    t.equal(ev.roomVersion, v);
    t.equal(ev.type, 'm.room.redaction');
    t.equal(ev.sender, '@alice:origin.test');
    t.equal(ev.origin, 'origin.test', 'origin is the sender\'s server');
    t.equal(ev.roomId, '!room:origin.test');
    t.equal(ev.stateKey, undefined);
    t.equal(ev.depth, 7);
    t.equal(ev.originServerTs, 1_700_000_000_000);
    t.equal(ev.redacts, '$gone:origin.test', `v${v.id}: redacts from ${v.redactsInContent ? 'content' : 'the top level'}`);
    t.same(ev.prevEvents, [sampleRef(v, 'prev1'), sampleRef(v, 'prev2')].map((r) => (typeof r === 'string' ? r : (r as { eventId: string }).eventId)));
    t.equal(ev.authEvents.length, 2);
    t.equal(ev.pdu, pdu, 'the wire form is the object given');
    t.ok(Object.isFrozen(pdu) && Object.isFrozen(pdu.content) && Object.isFrozen(pdu.prev_events) && Object.isFrozen(ev), 'deep-frozen');
    t.throws(() => {
      (pdu as Record<string, unknown>).depth = 8;
    }, TypeError, 'changing it throws');
    t.equal(ev.eventId, computeEventId(JSON.parse(JSON.stringify(pdu)) as Pdu, v), 'cached and fresh IDs agree');
  }
  const v1 = roomVersion('1')!;
  const state = parsePdu(sampleEvent(v1, key, { type: 'm.room.topic', stateKey: '', content: { topic: 't' } }), v1);
  t.equal(state.stateKey, '');
  t.equal(state.eventId, '$sample:origin.test');
});

t.test('lenient numbers survive parsing and hashing in v1-5', async (t) => {
  const v5 = roomVersion('5')!;
  const v6 = roomVersion('6')!;
  const text = eventCanonicalJson(sampleEvent(v5, key, { content: { n: 1 } }), false).replace('"n":1', '"n":1.0');
  const ev = parsePdu(parseEventJson(text), v5);
  t.ok((ev.content.n as unknown) instanceof JsonNumberLiteral);
  t.throws(() => parsePdu(parseEventJson(text), v6), /content\.n: not an integer: 1\.0/);
});
