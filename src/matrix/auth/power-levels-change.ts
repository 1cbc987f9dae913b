// Rule "if type is m.room.power_levels": the shape of the new levels, then
// what the sender may change: no level above their own may be set, changed
// or removed, and no other user at or above their level may be touched.
import type { JsonObject, JsonValue } from '../canonical-json.js';
import type { RoomEvent } from '../events/types.js';
import type { RoomVersion } from '../events/room-versions.js';
import { isObject, looksLikeUserId, own } from './json.js';
import { NAMED_LEVELS, parseLevel } from './power-levels.js';
import { ALLOW, deny, type AuthResult } from './result.js';

function isIntegerMap(value: JsonValue): boolean {
  return isObject(value) && Object.values(value).every((v) => Number.isInteger(v));
}

/** Rules 9.1-9.3 (v10+) and 10.1 (v1-9): what the new content must look like. */
function checkShape(content: JsonObject, version: RoomVersion): AuthResult {
  if (version.enforceIntPowerLevels) {
    for (const name of NAMED_LEVELS) {
      const value = own(content, name);
      if (value !== undefined && !Number.isInteger(value)) return deny('power_levels.not_integer', `${name} is not an integer`);
    }
    for (const name of ['events', 'notifications']) {
      const value = own(content, name);
      if (value !== undefined && !isIntegerMap(value)) return deny('power_levels.not_integer', `${name} is not an object of integers`);
    }
  }
  const users = own(content, 'users');
  if (users !== undefined) {
    if (!isObject(users)) return deny('power_levels.users', 'users is not an object');
    for (const [userId, level] of Object.entries(users)) {
      if (!looksLikeUserId(userId)) return deny('power_levels.users', `users has ${JSON.stringify(userId)}, not a user ID`);
      if (parseLevel(level, version) === undefined) return deny('power_levels.users', `users[${JSON.stringify(userId)}] is not a power level`);
    }
  }
  return ALLOW;
}

type Change = { key: string; old: number | undefined; new: number | undefined };

/**
 * The levels among `keys` that were added, changed or removed. A new value
 * that is present but not a level makes the event invalid (Synapse fails to
 * read it and rejects); an old one counts as absent.
 */
function levelChanges(before: JsonObject, after: JsonObject, keys: Iterable<string>, version: RoomVersion, where: string): Change[] | AuthResult {
  const out: Change[] = [];
  for (const key of keys) {
    const rawNew = own(after, key);
    const newLevel = parseLevel(rawNew, version);
    if (rawNew !== undefined && newLevel === undefined) return deny('power_levels.invalid_level', `${where} ${JSON.stringify(key)} is not a power level`);
    const oldLevel = parseLevel(own(before, key), version);
    if (oldLevel !== newLevel) out.push({ key, old: oldLevel, new: newLevel });
  }
  return out;
}

/** The same for the entries of a map of levels (`events`, `notifications`, `users`). */
function mapChanges(oldMap: JsonValue | undefined, newMap: JsonValue | undefined, version: RoomVersion, where: string): Change[] | AuthResult {
  if (newMap !== undefined && !isObject(newMap)) return deny('power_levels.invalid_level', `${where} is not an object`);
  const before = isObject(oldMap) ? oldMap : {};
  const after = newMap ?? {};
  return levelChanges(before, after, new Set([...Object.keys(before), ...Object.keys(after)]), version, where);
}

function tooHigh(list: Change[], senderLevel: number, where: string): AuthResult {
  for (const c of list) {
    if (c.old !== undefined && c.old > senderLevel) return deny(`power_levels.${where}.old`, `${where} ${c.key} is ${c.old}, above the sender's ${senderLevel}`);
    if (c.new !== undefined && c.new > senderLevel) return deny(`power_levels.${where}.new`, `${where} ${c.key} would be ${c.new}, above the sender's ${senderLevel}`);
  }
  return ALLOW;
}

/** `previous` is the power levels event the new one replaces, if any; `senderLevel` the sender's level under it. */
export function checkPowerLevelsChange(event: RoomEvent, previous: RoomEvent | undefined, senderLevel: number): AuthResult {
  const version = event.roomVersion;
  const shape = checkShape(event.content, version);
  if (!shape.ok || previous === undefined) return shape;

  const oldContent = previous.content;
  const newContent = event.content;
  const named = levelChanges(oldContent, newContent, NAMED_LEVELS, version, 'named');
  if (!Array.isArray(named)) return named;
  const namedVerdict = tooHigh(named, senderLevel, 'named');
  if (!namedVerdict.ok) return namedVerdict;

  const maps = version.limitNotificationsPowerLevels ? (['events', 'notifications'] as const) : (['events'] as const);
  for (const name of maps) {
    const list = mapChanges(own(oldContent, name), own(newContent, name), version, name);
    if (!Array.isArray(list)) return list;
    const verdict = tooHigh(list, senderLevel, name);
    if (!verdict.ok) return verdict;
  }

  const users = mapChanges(own(oldContent, 'users'), own(newContent, 'users'), version, 'users');
  if (!Array.isArray(users)) return users;
  for (const c of users) {
    if (c.key !== event.sender && c.old !== undefined && c.old >= senderLevel) {
      return deny('power_levels.users.old', `${c.key} has level ${c.old}, not below the sender's ${senderLevel}`);
    }
  }
  return tooHigh(users, senderLevel, 'users');
}
