// The room versions fedpeer knows (spec: "Room Versions", 1 to 11) and the
// behaviour each one switches on. Every version-dependent decision in
// matrix/events and matrix/auth reads one of these flags, never a version
// number, so a version's rules live in one table.

export type RoomVersionId = '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | '10' | '11';

export interface RoomVersion {
  readonly id: RoomVersionId;
  /**
   * 1: `event_id` travels in the event, `prev_events`/`auth_events` are
   *    `[event_id, {sha256: hash}]` pairs (v1, v2);
   * 2: the event ID is `$` + the reference hash in standard unpadded base64,
   *    and the reference lists are plain IDs (v3);
   * 3: as 2 but URL-safe unpadded base64 (v4 and later).
   */
  readonly eventFormat: 1 | 2 | 3;
  /** State resolution algorithm: 1 (v1 only) or 2. */
  readonly stateResolution: 1 | 2;
  /** v5+: a signing key must be valid (valid_until_ts) at the event's origin_server_ts. */
  readonly enforceKeyValidity: boolean;
  /** v1-5: m.room.aliases events are authorised by the sender's domain alone. */
  readonly specialCaseAliasesAuth: boolean;
  /** v6+: integers outside ±(2^53-1) and floats are rejected in events. */
  readonly strictCanonicalJson: boolean;
  /** v6+: `notifications` in m.room.power_levels is checked like the other levels. */
  readonly limitNotificationsPowerLevels: boolean;
  /** v7+: the `knock` join rule and membership. */
  readonly knockJoinRule: boolean;
  /** v8+: the `restricted` join rule (MSC3083). */
  readonly restrictedJoinRule: boolean;
  /** v9+: redaction keeps `join_authorised_via_users_server` of m.room.member (MSC3375). */
  readonly restrictedJoinRuleFix: boolean;
  /** v10+: the `knock_restricted` join rule (MSC3787). */
  readonly knockRestrictedJoinRule: boolean;
  /** v10+: power levels must be integers, not strings (MSC3667). */
  readonly enforceIntPowerLevels: boolean;
  /** v11: m.room.create has no `creator`; the sender is the creator (MSC2175). */
  readonly implicitRoomCreator: boolean;
  /**
   * v11: the updated redaction algorithm (MSC2176, MSC3821, MSC3989): create
   * keeps its whole content, member keeps `third_party_invite.signed`,
   * power_levels keeps `invite`, redaction keeps `content.redacts`; top-level
   * `origin`, `membership` and `prev_state` are dropped.
   */
  readonly updatedRedactionRules: boolean;
  /** v11: m.room.redaction carries `redacts` in its content (MSC2174); the top-level key is kept for older clients. */
  readonly redactsInContent: boolean;
  /**
   * v1-10: Synapse once measured the 255 limits on `sender`, `room_id`,
   * `type`, `state_key` and `event_id` in code points; a field within 255 code
   * points but over 255 bytes makes the event rejected (kept, so the room's
   * graph stays whole) rather than dropped. v11 drops it.
   */
  readonly lenientFieldByteLimits: boolean;
}

const V1: RoomVersion = {
  id: '1',
  eventFormat: 1,
  stateResolution: 1,
  enforceKeyValidity: false,
  specialCaseAliasesAuth: true,
  strictCanonicalJson: false,
  limitNotificationsPowerLevels: false,
  knockJoinRule: false,
  restrictedJoinRule: false,
  restrictedJoinRuleFix: false,
  knockRestrictedJoinRule: false,
  enforceIntPowerLevels: false,
  implicitRoomCreator: false,
  updatedRedactionRules: false,
  redactsInContent: false,
  lenientFieldByteLimits: true,
};
const V2: RoomVersion = { ...V1, id: '2', stateResolution: 2 };
const V3: RoomVersion = { ...V2, id: '3', eventFormat: 2 };
const V4: RoomVersion = { ...V3, id: '4', eventFormat: 3 };
const V5: RoomVersion = { ...V4, id: '5', enforceKeyValidity: true };
const V6: RoomVersion = { ...V5, id: '6', specialCaseAliasesAuth: false, strictCanonicalJson: true, limitNotificationsPowerLevels: true };
const V7: RoomVersion = { ...V6, id: '7', knockJoinRule: true };
const V8: RoomVersion = { ...V7, id: '8', restrictedJoinRule: true };
const V9: RoomVersion = { ...V8, id: '9', restrictedJoinRuleFix: true };
const V10: RoomVersion = { ...V9, id: '10', knockRestrictedJoinRule: true, enforceIntPowerLevels: true };
const V11: RoomVersion = { ...V10, id: '11', implicitRoomCreator: true, updatedRedactionRules: true, redactsInContent: true, lenientFieldByteLimits: false };

export const ROOM_VERSIONS: ReadonlyMap<string, RoomVersion> = new Map(
  [V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11].map((v) => [v.id, Object.freeze(v)]),
);

/** What fedpeer creates when no version is asked for (Synapse 1.67 creates 9; 10 is the newest it knows). */
export const DEFAULT_ROOM_VERSION: RoomVersionId = '10';

/** The version's rules, or undefined for a version fedpeer does not know. */
export function roomVersion(id: string): RoomVersion | undefined {
  return ROOM_VERSIONS.get(id);
}

export function supportedRoomVersions(): RoomVersionId[] {
  return [...ROOM_VERSIONS.keys()] as RoomVersionId[];
}
