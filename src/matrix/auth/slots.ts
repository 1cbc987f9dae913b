// The state slots the authorization rules read.
import { stateSlot } from '../events/types.js';

export const CREATE_SLOT = stateSlot('m.room.create', '');
export const POWER_LEVELS_SLOT = stateSlot('m.room.power_levels', '');
export const JOIN_RULES_SLOT = stateSlot('m.room.join_rules', '');

export function memberSlot(userId: string): string {
  return stateSlot('m.room.member', userId);
}

export function thirdPartyInviteSlot(token: string): string {
  return stateSlot('m.room.third_party_invite', token);
}
