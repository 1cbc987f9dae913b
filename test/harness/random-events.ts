// Seeded random events of a room version, as JSON text: every event type
// whose redaction is special, the keys each version keeps and drops, legacy
// top-level keys, other servers' signatures, unsigned data, and (room
// versions 1 to 5) numbers as Python reads them: floats such as 1.0 and 1e16,
// integers beyond 2^53. The text is written here, not by the code under test,
// so both it and the Python oracle parse the same bytes.
import type { RoomVersion } from '../../src/matrix/events/index.js';
import { randomJson } from './random-json.js';

const NUMBER_TEXTS = [
  '1.0', '-0.0', '0.0', '0.5', '1e100', '1E-7', '2.5e3', '0.1', '1e16', '1e15', '9999999999999998.0', '100000000000000000000.0', '5e-324', '1.7976931348623157e308',
  '123456789012345678901234567890', '-9007199254740993', '9007199254740992', '18446744073709551616', '-1e-400', '0.0001', '0.00001', '123.456',
];

const SPECIAL_TYPES = [
  'm.room.member', 'm.room.create', 'm.room.join_rules', 'm.room.power_levels', 'm.room.aliases', 'm.room.history_visibility', 'm.room.redaction', 'm.room.message',
];

export interface RandomEvents {
  /** One event as JSON text; `lenientNumbers` puts Python floats and big integers in it (only room versions 1 to 5 accept those). */
  event(version: RoomVersion, lenientNumbers: boolean): string;
}

export function randomEvents(rand: () => number): RandomEvents {
  const gen = randomJson(rand);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const maybe = (p = 0.5) => rand() < p;
  const b64 = (n: number, urlsafe = false) =>
    Array.from({ length: n }, () => pick([...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', ...(urlsafe ? '-_' : '+/')])).join('');

  return {
    event(version, lenientNumbers) {
      const numbers: string[] = [];
      // A placeholder string that becomes a bare number in the text.
      const num = (): unknown => {
        if (!lenientNumbers || maybe(0.4)) return gen.value(5);
        numbers.push(maybe(0.7) ? pick(NUMBER_TEXTS) : String((rand() - 0.5) * 10 ** int(30)));
        return `\u0000N${numbers.length - 1}\u0000`;
      };
      const server = pick(['example.org', 'b.test:8448', '127.0.0.1', '[::1]:8448', 'x.y.z']);
      const type = maybe(0.85) ? pick(SPECIAL_TYPES) : `org.example.${int(100)}`;
      const content: Record<string, unknown> = {};
      const put = (k: string, p = 0.7, v: () => unknown = num) => {
        if (maybe(p)) content[k] = v();
      };
      switch (type) {
        case 'm.room.member':
          put('membership', 0.9, () => pick(['join', 'invite', 'leave', 'ban', 'knock']));
          put('join_authorised_via_users_server', 0.5, () => `@auth:${server}`);
          put('third_party_invite', 0.4, () => (maybe(0.8) ? { display_name: num(), ...(maybe() ? { signed: { mxid: '@x:y', token: num(), signatures: {} } } : {}) } : num()));
          put('displayname');
          break;
        case 'm.room.create':
          put('creator', 0.8, () => `@c:${server}`);
          put('room_version', 0.5, () => version.id);
          put('m.federate', 0.3, () => maybe());
          break;
        case 'm.room.join_rules':
          put('join_rule', 0.9, () => pick(['public', 'invite', 'restricted', 'knock']));
          put('allow', 0.5, () => [{ type: 'm.room_membership', room_id: `!r:${server}` }, num()]);
          break;
        case 'm.room.power_levels':
          for (const k of ['ban', 'events_default', 'kick', 'redact', 'state_default', 'users_default', 'invite']) put(k);
          put('events', 0.6, () => ({ 'm.room.name': num(), 'm.room.power_levels': num() }));
          put('users', 0.6, () => ({ [`@u:${server}`]: num(), [`@v:${server}`]: num() }));
          put('notifications', 0.4, () => ({ room: num() }));
          break;
        case 'm.room.aliases':
          put('aliases', 0.9, () => [`#a:${server}`, num()]);
          break;
        case 'm.room.history_visibility':
          put('history_visibility', 0.9, () => pick(['shared', 'joined', 'invited', 'world_readable']));
          break;
        case 'm.room.redaction':
          put('redacts', 0.6, () => `$r${int(1000)}:${server}`);
          break;
        default:
          put('body', 0.8, () => gen.value(3));
      }
      for (let i = int(4); i > 0; i--) content[`extra${i}`] = num();
      const ref = () => (version.eventFormat === 1 ? [`$p${int(1e6)}:${server}`, { sha256: b64(43) }] : `$${b64(43, version.eventFormat === 3)}`);
      const pdu: Record<string, unknown> = {
        room_id: `!room:${server}`,
        sender: `@user:${server}`,
        type,
        content,
        depth: maybe(0.8) ? int(1e6) : 0,
        origin_server_ts: 1_600_000_000_000 + int(1e10),
        prev_events: Array.from({ length: int(4) }, ref),
        auth_events: Array.from({ length: int(4) }, ref),
        hashes: maybe(0.8) ? { sha256: b64(43) } : { sha256: b64(43), sha512: 'x' },
        signatures: maybe(0.6) ? { 'other.test': { 'ed25519:o': b64(86) } } : {},
      };
      if (version.eventFormat === 1) pdu.event_id = `$e${int(1e9)}:${maybe(0.8) ? server : 'other.test'}`;
      if (maybe(0.5)) pdu.state_key = maybe() ? '' : `@user:${server}`;
      if (maybe(0.5)) pdu.origin = server;
      if (maybe(0.3)) pdu.unsigned = { age: int(1000), ...(maybe() ? { other: num() } : {}) };
      if (maybe(0.2)) pdu.redacts = `$r:${server}`;
      for (const legacy of ['prev_state', 'membership', 'age_ts', 'outlier', 'destinations']) if (maybe(0.1)) pdu[legacy] = legacy === 'prev_state' ? [] : num();
      if (maybe(0.2)) pdu[`org.example.top${int(10)}`] = num();
      // The placeholder is a JSON string; replace it, quotes and all, by the number's text.
      return JSON.stringify(pdu).replace(/"\\u0000N(\d+)\\u0000"/g, (_, i: string) => numbers[Number(i)]!);
    },
  };
}
