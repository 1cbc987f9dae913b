// RoomEvent values for the auth and state resolution tests, built directly
// (made-up event IDs, placeholder hashes and signatures): the rules and the
// resolution read the typed fields, never the hashes, so these tests do not
// depend on matrix/events' parsing and signing.
import { createHash } from 'node:crypto';
import type { JsonObject } from '../../src/matrix/canonical-json.js';
import { roomVersion, type RoomVersion, type RoomVersionId } from '../../src/matrix/events/room-versions.js';
import { stateSlot, type RoomEvent, type StateMap } from '../../src/matrix/events/types.js';
import { authEventSlots, checkEventAuth, type AuthResult } from '../../src/matrix/auth/index.js';

export const ALICE = '@alice:example.com';
export const BOB = '@bob:example.com';
export const CHARLIE = '@charlie:example.com';
export const EVELYN = '@evelyn:example.com';
export const ZARA = '@zara:example.com';
/** A user of another server. */
export const RITA = '@rita:remote.test';
export const ROOM_ID = '!room:example.com';

export function versionOf(v: RoomVersion | RoomVersionId): RoomVersion {
  if (typeof v !== 'string') return v;
  const version = roomVersion(v);
  if (!version) throw new Error(`unknown room version ${v}`);
  return version;
}

export const ALL_VERSIONS: RoomVersion[] = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11'].map((v) => versionOf(v as RoomVersionId));

function domain(id: string): string {
  return id.slice(id.indexOf(':') + 1);
}

export interface EventFields {
  eventId?: string;
  roomId?: string;
  type: string;
  stateKey?: string;
  sender: string;
  content?: JsonObject;
  prevEvents?: string[];
  authEvents?: string[];
  depth?: number;
  originServerTs?: number;
  redacts?: string;
  /** The pdu's signatures; by default one placeholder signature from the sender's server. */
  signatures?: Record<string, Record<string, string>>;
}

let counter = 0;

/** A made-up event ID in the version's format: `$n:server` (v1, v2) or `$` and 43 URL-safe base64 characters. */
export function madeUpEventId(version: RoomVersion, sender: string): string {
  counter += 1;
  if (version.eventFormat === 1) return `$e${counter}:${domain(sender)}`;
  const hash = createHash('sha256').update(`fedpeer test event ${counter}`).digest('base64');
  const body = hash.replace(/=+$/, '');
  return `$${version.eventFormat === 3 ? body.replace(/\+/g, '-').replace(/\//g, '_') : body}`;
}

export function makeEvent(v: RoomVersion | RoomVersionId, f: EventFields): RoomEvent {
  const version = versionOf(v);
  const eventId = f.eventId ?? madeUpEventId(version, f.sender);
  const roomId = f.roomId ?? ROOM_ID;
  const content = f.content ?? {};
  const prevEvents = f.prevEvents ?? [];
  const authEvents = f.authEvents ?? [];
  const depth = f.depth ?? 1;
  const originServerTs = f.originServerTs ?? 1_700_000_000_000;
  const refs = (ids: string[]) => (version.eventFormat === 1 ? ids.map((id) => [id, { sha256: 'placeholder' }]) : ids);
  const pdu: JsonObject = {
    room_id: roomId,
    type: f.type,
    sender: f.sender,
    content,
    prev_events: refs(prevEvents),
    auth_events: refs(authEvents),
    depth,
    origin_server_ts: originServerTs,
    hashes: { sha256: 'placeholder' },
    signatures: f.signatures ?? { [domain(f.sender)]: { 'ed25519:test': 'placeholder' } },
  };
  if (version.eventFormat === 1) pdu.event_id = eventId;
  if (!version.updatedRedactionRules) pdu.origin = domain(f.sender);
  if (f.stateKey !== undefined) pdu.state_key = f.stateKey;
  if (f.redacts !== undefined && !version.redactsInContent) pdu.redacts = f.redacts;
  return {
    eventId,
    roomId,
    type: f.type,
    stateKey: f.stateKey,
    sender: f.sender,
    origin: domain(f.sender),
    content,
    prevEvents,
    authEvents,
    depth,
    originServerTs,
    redacts: f.redacts ?? (version.redactsInContent && typeof content.redacts === 'string' ? content.redacts : undefined),
    roomVersion: version,
    pdu,
  };
}

export function slotOf(event: RoomEvent): string {
  if (event.stateKey === undefined) throw new Error(`${event.eventId} is not a state event`);
  return stateSlot(event.type, event.stateKey);
}

export interface RoomOptions {
  creator?: string;
  roomId?: string;
  /** Extra content of the create event (`creator` and `room_version` are filled in). */
  createContent?: JsonObject;
  /** Content of the initial power levels event; none when null. Default: the creator at 100. */
  powerLevels?: JsonObject | null;
  /** The initial join rule; no join rules event when null. Default public. */
  joinRule?: string | null;
  /** Users who join after the initial events, while the room is public (the join rule is set after them). */
  members?: string[];
}

/**
 * A linear room history whose events pick their auth events from the current
 * state with the selection algorithm, as a well-behaved server builds them.
 * `add` checks each event against the state and throws when it is not
 * allowed, so a test's setup cannot silently be wrong.
 */
export class TestRoom {
  readonly version: RoomVersion;
  readonly roomId: string;
  readonly creator: string;
  readonly events = new Map<string, RoomEvent>();
  readonly state = new Map<string, RoomEvent>();
  readonly create: RoomEvent;
  private extremities: string[] = [];
  private depth = 0;
  private ts = 1_700_000_000_000;

  constructor(v: RoomVersion | RoomVersionId, options: RoomOptions = {}) {
    this.version = versionOf(v);
    this.creator = options.creator ?? ALICE;
    this.roomId = options.roomId ?? `!room:${domain(this.creator)}`;
    const content: JsonObject = { room_version: this.version.id, ...(this.version.implicitRoomCreator ? {} : { creator: this.creator }), ...options.createContent };
    this.create = this.add({ type: 'm.room.create', stateKey: '', sender: this.creator, content });
    this.add({ type: 'm.room.member', stateKey: this.creator, sender: this.creator, content: { membership: 'join' } });
    if (options.powerLevels !== null) {
      this.add({ type: 'm.room.power_levels', stateKey: '', sender: this.creator, content: options.powerLevels ?? { users: { [this.creator]: 100 } } });
    }
    const joinRule = options.joinRule === undefined ? 'public' : options.joinRule;
    const members = options.members ?? [];
    if (members.length > 0) {
      if (joinRule === null) throw new Error('test setup: members join a public room, so a join rule is needed');
      this.setJoinRule('public');
      for (const user of members) this.join(user);
      if (joinRule !== 'public') this.setJoinRule(joinRule);
    } else if (joinRule !== null) {
      this.setJoinRule(joinRule);
    }
  }

  /** An event on top of the current state, not applied. */
  build(f: EventFields): RoomEvent {
    const auth = f.authEvents ?? authEventSlots({ ...f, content: f.content ?? {} }, this.version).flatMap((slot) => {
      const e = this.state.get(slot);
      return e ? [e.eventId] : [];
    });
    this.depth += 1;
    this.ts += 1;
    return makeEvent(this.version, {
      roomId: this.roomId,
      prevEvents: [...this.extremities],
      depth: this.depth,
      originServerTs: this.ts,
      ...f,
      authEvents: auth,
    });
  }

  /** The rules' verdict on an event built on top of the current state. */
  check(f: EventFields): AuthResult {
    return checkEventAuth(this.build(f), this.state);
  }

  /** Builds, checks (throws when not allowed) and applies an event. */
  add(f: EventFields): RoomEvent {
    const event = this.build(f);
    const verdict = checkEventAuth(event, this.state);
    if (!verdict.ok) throw new Error(`test setup: ${f.type} by ${f.sender} not allowed: ${verdict.rule}: ${verdict.reason}`);
    return this.apply(event);
  }

  /** Applies an event without checking it. */
  apply(event: RoomEvent): RoomEvent {
    this.events.set(event.eventId, event);
    if (event.stateKey !== undefined) this.state.set(slotOf(event), event);
    this.extremities = [event.eventId];
    return event;
  }

  member(sender: string, target: string, membership: string, extra: JsonObject = {}): RoomEvent {
    return this.add({ type: 'm.room.member', stateKey: target, sender, content: { membership, ...extra } });
  }

  join(user: string): RoomEvent {
    return this.member(user, user, 'join');
  }

  setPowerLevels(content: JsonObject, sender = this.creator): RoomEvent {
    return this.add({ type: 'm.room.power_levels', stateKey: '', sender, content });
  }

  setJoinRule(joinRule: string, extra: JsonObject = {}): RoomEvent {
    return this.add({ type: 'm.room.join_rules', stateKey: '', sender: this.creator, content: { join_rule: joinRule, ...extra } });
  }

  /** The current state as slot -> event ID. */
  stateIds(): StateMap {
    return new Map([...this.state].map(([slot, e]) => [slot, e.eventId]));
  }

  lookup = (eventId: string): RoomEvent | undefined => this.events.get(eventId);

  /** A second room object with the same history from here on, for a branch of the DAG; events built on either are known to both. */
  fork(): TestRoom {
    const copy = Object.create(TestRoom.prototype) as TestRoom;
    Object.assign(copy, this, { state: new Map(this.state), extremities: [...this.extremities] });
    copy.lookup = (eventId: string) => copy.events.get(eventId);
    return copy;
  }
}
