// New events in each room version's wire format, before hashing and signing
// (Synapse's EventBuilder.build and create_local_event_from_event_dict).
import type { JsonObject, JsonValue } from '../canonical-json.js';
import { encodeBase64 } from '../base64.js';
import { computeReferenceHash } from './hashes.js';
import { domainOf } from './ids.js';
import type { RoomVersion } from './room-versions.js';
import type { Pdu, RoomEvent } from './types.js';

/** An event referred to: its ID, its ID and reference hash (what v1/v2 pairs need), or the event itself. */
export type EventRef = string | { eventId: string; sha256: string } | RoomEvent;

export interface EventFields {
  roomId: string;
  sender: string;
  type: string;
  stateKey?: string;
  content: JsonObject;
  prevEvents: readonly EventRef[];
  authEvents: readonly EventRef[];
  depth: number;
  originServerTs: number;
  redacts?: string;
  unsigned?: JsonObject;
  /** v1/v2 only: the event ID to put in the event (default `$<random>:<origin>`, the random part from `opts.randomId`). */
  eventId?: string;
  /** Any extra top-level fields, for negative tests (they override the computed ones). */
  extra?: JsonObject;
}

export interface BuildOptions {
  /** v1/v2: the opaque part of a new event ID, when `fields.eventId` is not given (randomness stays with the caller). */
  randomId?: () => string;
}

function reference(ref: EventRef, version: RoomVersion): JsonValue {
  if (typeof ref === 'string') {
    if (version.eventFormat === 1) throw new Error(`room version ${version.id} references need the referenced event's hash: pass the RoomEvent or {eventId, sha256} for ${ref}`);
    return ref;
  }
  if ('pdu' in ref) {
    if (version.eventFormat !== 1) return ref.eventId;
    return [ref.eventId, { sha256: encodeBase64(computeReferenceHash(ref.pdu, ref.roomVersion)) }];
  }
  return version.eventFormat === 1 ? [ref.eventId, { sha256: ref.sha256 }] : ref.eventId;
}

/**
 * The unsigned, unhashed wire form of a new event in the version's format:
 * v1/v2 carry `event_id` and `[id, {sha256}]` reference pairs, later versions
 * plain IDs; `origin` is the sender's server (Synapse still sends it in v11,
 * where it is no longer signed); `redacts` goes top level before v11 and into
 * content from v11.
 */
export function buildPdu(fields: EventFields, version: RoomVersion, opts: BuildOptions = {}): Pdu {
  const origin = domainOf(fields.sender);
  if (origin === undefined) throw new Error(`sender ${JSON.stringify(fields.sender)} is not a user ID (@user:server)`);
  const pdu: Pdu = {
    room_id: fields.roomId,
    sender: fields.sender,
    origin,
    origin_server_ts: fields.originServerTs,
    type: fields.type,
    content: fields.content,
    depth: fields.depth,
    prev_events: fields.prevEvents.map((r) => reference(r, version)),
    auth_events: fields.authEvents.map((r) => reference(r, version)),
  };
  if (fields.stateKey !== undefined) pdu.state_key = fields.stateKey;
  if (fields.redacts !== undefined) {
    if (version.redactsInContent) pdu.content = { ...fields.content, redacts: fields.redacts };
    else pdu.redacts = fields.redacts;
  }
  if (fields.unsigned !== undefined) pdu.unsigned = fields.unsigned;
  if (version.eventFormat === 1) {
    if (fields.eventId !== undefined) pdu.event_id = fields.eventId;
    else if (opts.randomId) pdu.event_id = `$${opts.randomId()}:${origin}`;
    else throw new Error(`room version ${version.id} events carry their ID: give fields.eventId or opts.randomId`);
  }
  return { ...pdu, ...fields.extra };
}
