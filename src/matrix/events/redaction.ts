// The redaction algorithm of each room version (spec: the "Redactions"
// section of rooms v1, v6, v9 and v11; Synapse's prune_event_dict). What a
// redaction keeps is also what signatures and the reference hash cover, so
// this one table decides all three.
import type { JsonObject, JsonValue } from '../canonical-json.js';
import { isJsonObject } from './event-json.js';
import type { RoomVersion } from './room-versions.js';
import type { Pdu } from './types.js';

const KEPT_TOP_LEVEL_V11 = [
  'event_id', 'type', 'room_id', 'sender', 'state_key', 'content', 'hashes', 'signatures', 'depth', 'prev_events', 'auth_events', 'origin_server_ts',
];
// Before v11 three more survive: `origin`, `membership` and `prev_state`.
const KEPT_TOP_LEVEL_V1 = [...KEPT_TOP_LEVEL_V11, 'origin', 'membership', 'prev_state'];
const KEPT_V1: ReadonlySet<string> = new Set(KEPT_TOP_LEVEL_V1);
const KEPT_V11: ReadonlySet<string> = new Set(KEPT_TOP_LEVEL_V11);

/** The top-level keys a redaction keeps (`content` is kept, then pruned by `redactContent`). */
export function keptTopLevelKeys(version: RoomVersion): ReadonlySet<string> {
  return version.updatedRedactionRules ? KEPT_V11 : KEPT_V1;
}

const POWER_LEVEL_KEYS = ['ban', 'events', 'events_default', 'kick', 'redact', 'state_default', 'users', 'users_default'];

/** The content keys kept for an event type, or 'all' (v11 m.room.create). */
function keptContentKeys(type: unknown, v: RoomVersion): readonly string[] | 'all' {
  switch (type) {
    case 'm.room.member':
      return v.restrictedJoinRuleFix ? ['membership', 'join_authorised_via_users_server'] : ['membership'];
    case 'm.room.create':
      if (v.updatedRedactionRules) return 'all';
      return v.implicitRoomCreator ? [] : ['creator'];
    case 'm.room.join_rules':
      return v.restrictedJoinRule ? ['join_rule', 'allow'] : ['join_rule'];
    case 'm.room.power_levels':
      return v.updatedRedactionRules ? [...POWER_LEVEL_KEYS, 'invite'] : POWER_LEVEL_KEYS;
    case 'm.room.aliases':
      return v.specialCaseAliasesAuth ? ['aliases'] : [];
    case 'm.room.history_visibility':
      return ['history_visibility'];
    case 'm.room.redaction':
      return v.updatedRedactionRules ? ['redacts'] : [];
    default:
      return [];
  }
}

const has = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * The content a redaction keeps. Values are the original ones (not copies),
 * so a caller can tell a kept value by identity; the only new value is v11's
 * `third_party_invite`, cut down to its `signed` key as Synapse does (an
 * object without `signed` becomes `{}`).
 */
export function redactContent(type: unknown, content: unknown, version: RoomVersion): JsonObject {
  if (!isJsonObject(content)) return {};
  const kept = keptContentKeys(type, version);
  if (kept === 'all') return content;
  const out: JsonObject = {};
  for (const k of kept) if (has(content, k)) out[k] = content[k] as JsonValue;
  if (type === 'm.room.member' && version.updatedRedactionRules && isJsonObject(content.third_party_invite)) {
    const tpi = content.third_party_invite;
    out.third_party_invite = has(tpi, 'signed') ? { signed: tpi.signed as JsonValue } : {};
  }
  return out;
}

/**
 * The redacted form of an event: the kept top-level keys (signatures and
 * hashes among them) and the kept content. `unsigned` is dropped, as the spec
 * says (Synapse keeps `age_ts` and `replaces_state` in its stored copies;
 * neither is signed). Values are shared with the input, not copied.
 */
export function redactPdu(pdu: Pdu, version: RoomVersion): Pdu {
  const kept = keptTopLevelKeys(version);
  const out: Pdu = {};
  for (const k of Object.keys(pdu)) if (kept.has(k)) out[k] = pdu[k] as JsonValue;
  out.content = redactContent(pdu.type, pdu.content, version);
  return out;
}
