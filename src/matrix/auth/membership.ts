// Rule "if type is m.room.member" of the authorization rules, room versions
// 1 to 11: joins under every join rule (public, invite, knock, restricted,
// knock_restricted), invites (plain and third-party), leaves and kicks, bans
// and knocks. The rule ids name the step that rejected.
import type { RoomEvent } from '../events/types.js';
import { domainOf, isObject, looksLikeUserId, own, ownString } from './json.js';
import { namedPowerLevel, roomCreator, userPowerLevel } from './power-levels.js';
import { ALLOW, deny, type AuthResult } from './result.js';
import { JOIN_RULES_SLOT, POWER_LEVELS_SLOT, memberSlot } from './slots.js';
import { checkThirdPartyInvite } from './third-party-invite.js';

/** A user's membership in the given state, or undefined when they have none. */
export function membershipOf(authState: ReadonlyMap<string, RoomEvent>, userId: string): string | undefined {
  const member = authState.get(memberSlot(userId));
  return member === undefined ? undefined : ownString(member.content, 'membership');
}

/** The room's join rule; with no m.room.join_rules event (or no `join_rule` in it) rooms are invite-only, as in Synapse. */
function joinRuleOf(authState: ReadonlyMap<string, RoomEvent>): unknown {
  const joinRules = authState.get(JOIN_RULES_SLOT);
  if (joinRules === undefined) return 'invite';
  return own(joinRules.content, 'join_rule') ?? 'invite';
}

function hasSignatureFrom(event: RoomEvent, server: string): boolean {
  const signatures = own(event.pdu, 'signatures');
  return isObject(signatures) && own(signatures, server) !== undefined;
}

/** `create` is the room's m.room.create from the auth state; `canFederate` its m.federate verdict. */
export function checkMembership(event: RoomEvent, authState: ReadonlyMap<string, RoomEvent>, create: RoomEvent, canFederate: boolean): AuthResult {
  const version = event.roomVersion;
  const target = event.stateKey;
  if (target === undefined) return deny('member.no_state_key', 'm.room.member without a state_key');
  const membership = own(event.content, 'membership');
  if (typeof membership !== 'string') return deny('member.no_membership', 'm.room.member without a string content.membership');

  // v8+: the authorising server of a restricted join must have signed it.
  // Whether that signature verifies is the signature check's job
  // (matrix/events), done before these rules; here it must at least be there.
  // Synapse applies this to joins only, and so does fedpeer.
  const authoriser = own(event.content, 'join_authorised_via_users_server');
  if (version.restrictedJoinRule && membership === 'join' && authoriser !== undefined) {
    if (typeof authoriser !== 'string' || !looksLikeUserId(authoriser)) {
      return deny('member.join.authoriser_invalid', 'content.join_authorised_via_users_server is not a user ID');
    }
    if (!hasSignatureFrom(event, domainOf(authoriser))) {
      return deny('member.join.authoriser_unsigned', `the join is not signed by ${domainOf(authoriser)}, the server of its authorising user`);
    }
  }

  // The creator's own join right after the create event.
  if (membership === 'join' && event.prevEvents.length === 1 && event.prevEvents[0] === create.eventId && target === roomCreator(create)) {
    return ALLOW;
  }

  // Synapse also keeps users of other servers out of a room that does not federate, whoever sends the event.
  if (!canFederate && domainOf(target) !== domainOf(create.sender)) {
    return deny('federate.target', `the room does not federate and ${target} is not on ${domainOf(create.sender)}`);
  }

  const sender = event.sender;
  const senderMembership = membershipOf(authState, sender);
  const targetMembership = membershipOf(authState, target);
  const powerLevels = authState.get(POWER_LEVELS_SLOT);
  const senderLevel = userPowerLevel(sender, powerLevels, create);

  switch (membership) {
    case 'join': {
      if (sender !== target) return deny('member.join.not_self', `${sender} cannot join ${target} to the room`);
      if (senderMembership === 'ban') return deny('member.join.banned', `${sender} is banned`);
      const joinRule = joinRuleOf(authState);
      const joinedOrInvited = senderMembership === 'join' || senderMembership === 'invite';
      if (joinRule === 'invite' || (version.knockJoinRule && joinRule === 'knock')) {
        return joinedOrInvited ? ALLOW : deny('member.join.not_invited', `the join rule is ${joinRule} and ${sender} is not invited`);
      }
      if ((version.restrictedJoinRule && joinRule === 'restricted') || (version.knockRestrictedJoinRule && joinRule === 'knock_restricted')) {
        if (joinedOrInvited) return ALLOW;
        if (typeof authoriser !== 'string') {
          return deny('member.join.restricted.no_authoriser', `the join rule is ${joinRule}: a join without an invite needs join_authorised_via_users_server`);
        }
        if (membershipOf(authState, authoriser) !== 'join') {
          return deny('member.join.restricted.authoriser_not_joined', `the authorising user ${authoriser} is not joined`);
        }
        if (userPowerLevel(authoriser, powerLevels, create) < namedPowerLevel(powerLevels, 'invite')) {
          return deny('member.join.restricted.authoriser_power', `the authorising user ${authoriser} may not invite`);
        }
        return ALLOW;
      }
      if (joinRule === 'public') return ALLOW;
      return deny('member.join.join_rule', `the join rule ${JSON.stringify(joinRule)} lets no one join in room version ${version.id}`);
    }
    case 'invite': {
      if (own(event.content, 'third_party_invite') !== undefined) return checkThirdPartyInvite(event, authState, targetMembership);
      if (senderMembership !== 'join') return deny('member.invite.sender_not_joined', `${sender} is not joined`);
      if (targetMembership === 'join') return deny('member.invite.target_joined', `${target} is already joined`);
      if (targetMembership === 'ban') return deny('member.invite.target_banned', `${target} is banned`);
      if (senderLevel < namedPowerLevel(powerLevels, 'invite')) return deny('member.invite.power', `${sender} may not invite`);
      return ALLOW;
    }
    case 'leave': {
      if (sender === target) {
        const mayLeave = senderMembership === 'join' || senderMembership === 'invite' || (version.knockJoinRule && senderMembership === 'knock');
        return mayLeave ? ALLOW : deny('member.leave.not_member', `${sender} has no membership to leave (${senderMembership ?? 'none'})`);
      }
      if (senderMembership !== 'join') return deny('member.leave.sender_not_joined', `${sender} is not joined`);
      if (targetMembership === 'ban' && senderLevel < namedPowerLevel(powerLevels, 'ban')) {
        return deny('member.leave.unban_power', `${sender} may not unban`);
      }
      if (senderLevel >= namedPowerLevel(powerLevels, 'kick') && userPowerLevel(target, powerLevels, create) < senderLevel) return ALLOW;
      return deny('member.leave.kick_power', `${sender} may not kick ${target}`);
    }
    case 'ban': {
      if (senderMembership !== 'join') return deny('member.ban.sender_not_joined', `${sender} is not joined`);
      if (senderLevel >= namedPowerLevel(powerLevels, 'ban') && userPowerLevel(target, powerLevels, create) < senderLevel) return ALLOW;
      return deny('member.ban.power', `${sender} may not ban ${target}`);
    }
    case 'knock': {
      if (!version.knockJoinRule) break;
      const joinRule = joinRuleOf(authState);
      if (joinRule !== 'knock' && !(version.knockRestrictedJoinRule && joinRule === 'knock_restricted')) {
        return deny('member.knock.join_rule', `the join rule ${JSON.stringify(joinRule)} does not allow knocking`);
      }
      if (sender !== target) return deny('member.knock.not_self', `${sender} cannot knock for ${target}`);
      if (senderMembership === 'ban' || senderMembership === 'invite' || senderMembership === 'join') {
        return deny('member.knock.membership', `${sender} cannot knock while ${senderMembership}`);
      }
      return ALLOW;
    }
  }
  return deny('member.unknown_membership', `membership ${JSON.stringify(membership)} is unknown in room version ${version.id}`);
}
