// The authorization rules of room versions 1 to 11 (spec: rooms/v1 ...
// rooms/v11, "Authorisation rules"), for one event against a given state:
// the event's auth events when it is received, the state before it, the
// current state (soft failure), or the partial state of state resolution.
// Rule 2 (the auth_events list itself) is checkAuthEventsList in selection.ts.
import { stateSlot, type RoomEvent } from '../events/types.js';
import { roomVersion } from '../events/room-versions.js';
import { domainOf, own } from './json.js';
import { checkMembership, membershipOf } from './membership.js';
import { namedPowerLevel, requiredPowerLevel, userPowerLevel } from './power-levels.js';
import { checkPowerLevelsChange } from './power-levels-change.js';
import { ALLOW, deny, type AuthResult } from './result.js';
import { CREATE_SLOT, POWER_LEVELS_SLOT } from './slots.js';

/** Rule 1: the m.room.create event, which needs no state. */
function checkCreate(event: RoomEvent): AuthResult {
  if (event.prevEvents.length > 0) return deny('create.prev_events', 'm.room.create has prev_events');
  if (domainOf(event.roomId) !== domainOf(event.sender)) {
    return deny('create.room_id_domain', `room ID ${event.roomId} is not on the sender's server ${domainOf(event.sender)}`);
  }
  const version = own(event.content, 'room_version');
  if (version !== undefined && (typeof version !== 'string' || roomVersion(version) === undefined)) {
    return deny('create.room_version', `content.room_version ${JSON.stringify(version)} is not a known room version`);
  }
  if (!event.roomVersion.implicitRoomCreator && typeof own(event.content, 'creator') !== 'string') {
    return deny('create.no_creator', 'm.room.create has no content.creator');
  }
  return ALLOW;
}

/**
 * Whether the room lets other servers in. Synapse federates only when
 * `m.federate` is absent or exactly true; the spec only names false. The
 * stricter reading keeps fedpeer from accepting what Synapse rejects.
 */
function federates(create: RoomEvent): boolean {
  const flag = own(create.content, 'm.federate');
  return flag === undefined || flag === true;
}

/** Rule 11 of room versions 1 and 2 (the versions whose event IDs carry the sending server). */
function checkRedaction(event: RoomEvent, senderLevel: number, powerLevels: RoomEvent | undefined): AuthResult {
  if (senderLevel >= namedPowerLevel(powerLevels, 'redact')) return ALLOW;
  if (event.redacts !== undefined && domainOf(event.redacts) === domainOf(event.eventId)) return ALLOW;
  return deny('redaction.power', `${event.sender} may not redact events of other servers`);
}

/** The authorization rules of event.roomVersion, against the given auth state (slot -> event). */
export function checkEventAuth(event: RoomEvent, authState: ReadonlyMap<string, RoomEvent>): AuthResult {
  const version = event.roomVersion;
  if (event.type === 'm.room.create') return checkCreate(event);

  const create = authState.get(CREATE_SLOT);
  if (create === undefined) return deny('create.missing', 'no m.room.create event in the auth state');
  if (create.roomId !== event.roomId) return deny('create.wrong_room', `the m.room.create event is for room ${create.roomId}`);
  const canFederate = federates(create);
  if (!canFederate && domainOf(event.sender) !== domainOf(create.sender)) {
    return deny('federate.sender', `the room does not federate and ${event.sender} is not on ${domainOf(create.sender)}`);
  }

  if (version.specialCaseAliasesAuth && event.type === 'm.room.aliases') {
    if (event.stateKey === undefined || event.stateKey === '') return deny('aliases.state_key', 'm.room.aliases needs the sending server as state_key');
    if (event.stateKey !== domainOf(event.sender)) return deny('aliases.domain', `state_key ${event.stateKey} is not the sender's server`);
    return ALLOW;
  }

  if (event.type === 'm.room.member') return checkMembership(event, authState, create, canFederate);

  if (membershipOf(authState, event.sender) !== 'join') return deny('sender.not_joined', `${event.sender} is not joined`);

  const powerLevels = authState.get(POWER_LEVELS_SLOT);
  const senderLevel = userPowerLevel(event.sender, powerLevels, create);
  if (event.type === 'm.room.third_party_invite') {
    return senderLevel >= namedPowerLevel(powerLevels, 'invite') ? ALLOW : deny('third_party_invite.power', `${event.sender} may not invite`);
  }
  const required = requiredPowerLevel(powerLevels, event.type, event.stateKey !== undefined);
  if (required > senderLevel) return deny('event.power', `${event.type} needs level ${required}, ${event.sender} has ${senderLevel}`);
  if (event.stateKey !== undefined && event.stateKey.startsWith('@') && event.stateKey !== event.sender) {
    return deny('event.state_key_user', `state_key ${event.stateKey} belongs to another user`);
  }
  if (event.type === 'm.room.power_levels') {
    // Compared with the levels in the same slot, as Synapse does; only ('m.room.power_levels', '') is ever selected.
    const previous = event.stateKey === undefined ? undefined : authState.get(stateSlot(event.type, event.stateKey));
    return checkPowerLevelsChange(event, previous, senderLevel);
  }
  if (event.type === 'm.room.redaction' && version.eventFormat === 1) return checkRedaction(event, senderLevel, powerLevels);
  return ALLOW;
}
