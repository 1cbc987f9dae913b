// The auth events selection algorithm (server-server API, "Auth events
// selection") and rule 2 of every room version's authorization rules: the
// checks on an event's auth_events list itself.
import type { JsonObject } from '../canonical-json.js';
import { stateSlot, type RoomEvent } from '../events/types.js';
import type { RoomVersion } from '../events/room-versions.js';
import { isObject, own, ownString } from './json.js';
import { ALLOW, deny, type AuthResult } from './result.js';
import { CREATE_SLOT, JOIN_RULES_SLOT, POWER_LEVELS_SLOT, memberSlot, thirdPartyInviteSlot } from './slots.js';

/** The token of a third-party invite member event, when its content has one. */
function thirdPartyInviteToken(content: JsonObject): string | undefined {
  const invite = own(content, 'third_party_invite');
  if (!isObject(invite)) return undefined;
  const signed = own(invite, 'signed');
  return isObject(signed) ? ownString(signed, 'token') : undefined;
}

/**
 * The state slots (stateSlot(type, key)) the auth event selection algorithm
 * picks for an event about to be built or checked. Content that is not what
 * it should be (a membership that is not a string) only leaves out the slots
 * it would have added: the authorization rules reject such events anyway.
 */
export function authEventSlots(
  event: { type: string; stateKey?: string | undefined; sender: string; content: JsonObject },
  version: RoomVersion,
): string[] {
  if (event.type === 'm.room.create') return [];
  const slots = [CREATE_SLOT, POWER_LEVELS_SLOT, memberSlot(event.sender)];
  if (event.type === 'm.room.member') {
    const membership = own(event.content, 'membership');
    if (event.stateKey !== undefined) slots.push(memberSlot(event.stateKey));
    if (membership === 'join' || membership === 'invite' || membership === 'knock') slots.push(JOIN_RULES_SLOT);
    if (membership === 'invite') {
      const token = thirdPartyInviteToken(event.content);
      if (token !== undefined) slots.push(thirdPartyInviteSlot(token));
    }
    if (membership === 'join' && version.restrictedJoinRule) {
      const authoriser = ownString(event.content, 'join_authorised_via_users_server');
      if (authoriser !== undefined) slots.push(memberSlot(authoriser));
    }
  }
  return [...new Set(slots)];
}

export interface AuthEventsListOptions {
  /** Whether an auth event was itself rejected (rule 2.3); the room peer knows, this module does not. */
  isRejected?: (eventId: string) => boolean;
}

/**
 * The checks on the auth_events list itself (rule 2): every listed event
 * given, no two for one slot, none the selection algorithm would not pick,
 * none rejected, one m.room.create among them, all in the event's room.
 * `authEvents` are the events the IDs in `event.authEvents` name, in any order.
 */
export function checkAuthEventsList(event: RoomEvent, authEvents: readonly RoomEvent[], options: AuthEventsListOptions = {}): AuthResult {
  // Rule 1 (m.room.create) ends in "otherwise, allow" before rule 2 is reached.
  if (event.type === 'm.room.create') return ALLOW;
  const byId = new Map<string, RoomEvent>();
  for (const authEvent of authEvents) byId.set(authEvent.eventId, authEvent);
  const expected = new Set(authEventSlots(event, event.roomVersion));
  const seen = new Map<string, string>();
  for (const id of event.authEvents) {
    const authEvent = byId.get(id);
    if (authEvent === undefined) return deny('auth_events.missing', `auth event ${id} was not given`);
    if (authEvent.roomId !== event.roomId) {
      return deny('auth_events.wrong_room', `auth event ${id} is in room ${authEvent.roomId}, not ${event.roomId}`);
    }
    if (authEvent.stateKey === undefined) return deny('auth_events.unexpected', `auth event ${id} is not a state event`);
    const slot = stateSlot(authEvent.type, authEvent.stateKey);
    const earlier = seen.get(slot);
    if (earlier !== undefined) {
      return deny('auth_events.duplicate', `auth events ${earlier} and ${id} are both ${authEvent.type} for ${JSON.stringify(authEvent.stateKey)}`);
    }
    seen.set(slot, id);
    if (!expected.has(slot)) {
      return deny('auth_events.unexpected', `auth event ${id} (${authEvent.type} for ${JSON.stringify(authEvent.stateKey)}) is not one the selection algorithm picks`);
    }
    if (options.isRejected?.(id) === true) return deny('auth_events.rejected', `auth event ${id} was itself rejected`);
  }
  if (!seen.has(CREATE_SLOT)) return deny('auth_events.no_create', 'no m.room.create event among the auth events');
  return ALLOW;
}

/**
 * An event's auth events as the auth state the rules read (slot -> event),
 * for the check "passes the authorization rules based on its auth events".
 * Run checkAuthEventsList first: it rejects the lists this would flatten (two
 * events for one slot, events that are not state).
 */
export function authStateOf(authEvents: readonly RoomEvent[]): Map<string, RoomEvent> {
  const state = new Map<string, RoomEvent>();
  for (const authEvent of authEvents) {
    if (authEvent.stateKey !== undefined) state.set(stateSlot(authEvent.type, authEvent.stateKey), authEvent);
  }
  return state;
}
