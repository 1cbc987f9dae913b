// Power levels as the authorization rules read them (spec: server-server
// "Definitions" and the room versions' notes on power level values).
//
// Room versions 1-9 accept a level written as a string ("50", " +050 "),
// and versions 1-5 a float, truncated (v6 and later cannot carry a float at
// all: their canonical JSON rejects it). Version 10 accepts integers only. A
// value that is none of these counts as absent, so the default applies:
// Synapse would throw there instead, and no room it accepted holds one.
import type { JsonValue } from '../canonical-json.js';
import type { RoomEvent } from '../events/types.js';
import type { RoomVersion } from '../events/room-versions.js';
import { JsonNumberLiteral } from '../events/event-json.js';
import { isObject, own, ownString } from './json.js';

// The spec's format for a level written as a string: optional whitespace, one
// optional sign, decimal digits, optional whitespace.
const INTEGER_STRING = /^\s*[+-]?[0-9]+\s*$/;

/** A power level value, or undefined when the value is not one in this room version. */
export function parseLevel(value: JsonValue | undefined, version: RoomVersion): number | undefined {
  // parseEventJson keeps `100.0` (and integers beyond 2^53) as a literal, only in v1-5 events; Python reads 100.0 as a float.
  if ((value as unknown) instanceof JsonNumberLiteral) {
    const n = (value as unknown as JsonNumberLiteral).value;
    return version.enforceIntPowerLevels || !Number.isFinite(n) ? undefined : Math.trunc(n);
  }
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return value;
    if (version.enforceIntPowerLevels || !Number.isFinite(value)) return undefined;
    return Math.trunc(value);
  }
  if (typeof value === 'string' && !version.enforceIntPowerLevels && INTEGER_STRING.test(value)) {
    return Number(value.trim());
  }
  return undefined;
}

/** The named levels of m.room.power_levels and their defaults when the event leaves them out. */
export const NAMED_LEVEL_DEFAULTS = Object.freeze({
  users_default: 0,
  events_default: 0,
  state_default: 50,
  ban: 50,
  redact: 50,
  kick: 50,
  invite: 0,
});
export type NamedLevel = keyof typeof NAMED_LEVEL_DEFAULTS;
export const NAMED_LEVELS = Object.keys(NAMED_LEVEL_DEFAULTS) as NamedLevel[];

/** The room creator: `content.creator` before room version 11, the sender from 11 on. */
export function roomCreator(create: RoomEvent): string | undefined {
  return create.roomVersion.implicitRoomCreator ? create.sender : ownString(create.content, 'creator');
}

/**
 * A user's power level: their entry in `users`, else `users_default`, else 0.
 * With no m.room.power_levels event the creator has 100 and everyone else 0.
 */
export function userPowerLevel(userId: string, powerLevels: RoomEvent | undefined, create: RoomEvent | undefined): number {
  if (powerLevels !== undefined) {
    const content = powerLevels.content;
    const version = powerLevels.roomVersion;
    const users = own(content, 'users');
    if (isObject(users)) {
      const level = parseLevel(own(users, userId), version);
      if (level !== undefined) return level;
    }
    return parseLevel(own(content, 'users_default'), version) ?? 0;
  }
  if (create !== undefined && roomCreator(create) === userId) return 100;
  return 0;
}

/** The invite, kick, ban or redact level (or another named level), with the spec's default. */
export function namedPowerLevel(powerLevels: RoomEvent | undefined, name: NamedLevel): number {
  if (powerLevels === undefined) return NAMED_LEVEL_DEFAULTS[name];
  return parseLevel(own(powerLevels.content, name), powerLevels.roomVersion) ?? NAMED_LEVEL_DEFAULTS[name];
}

/**
 * The *required power level* of an event type: its entry in `events`, else
 * `state_default` for state events and `events_default` for the others.
 * Without a power levels event state events need 50, as in Synapse and
 * gomatrixserverlib (the client-server spec's "0 with no power levels event"
 * is not what either enforces).
 */
export function requiredPowerLevel(powerLevels: RoomEvent | undefined, eventType: string, isState: boolean): number {
  if (powerLevels !== undefined) {
    const events = own(powerLevels.content, 'events');
    if (isObject(events)) {
      const level = parseLevel(own(events, eventType), powerLevels.roomVersion);
      if (level !== undefined) return level;
    }
  }
  return namedPowerLevel(powerLevels, isState ? 'state_default' : 'events_default');
}
