// The authorization rules, one table row per rule and outcome, each row run in
// every room version it applies to: every rule that rejects has a case that
// reaches it and a neighbouring case that passes, named after the rule.
import t from 'tap';
import type { JsonObject } from '../src/matrix/canonical-json.js';
import type { RoomVersion } from '../src/matrix/events/room-versions.js';
import { checkEventAuth } from '../src/matrix/auth/index.js';
import { ALICE, ALL_VERSIONS, BOB, CHARLIE, EVELYN, RITA, TestRoom, makeEvent, type EventFields, type RoomOptions } from './harness/room-events.js';

const any = () => true;
const not = (flag: keyof RoomVersion) => (v: RoomVersion) => !v[flag];
const has = (flag: keyof RoomVersion) => (v: RoomVersion) => Boolean(v[flag]);

interface Case {
  /** The rule id the event must be rejected with, or 'allow'. */
  expect: string;
  name: string;
  versions?: (v: RoomVersion) => boolean;
  room?: RoomOptions;
  setup?: (room: TestRoom) => void;
  event: (room: TestRoom) => EventFields;
}

const msg = (sender: string, content: JsonObject = { body: 'hi' }): EventFields => ({ type: 'm.room.message', sender, content });
const member = (sender: string, target: string, membership: string, extra: JsonObject = {}): EventFields => ({
  type: 'm.room.member',
  sender,
  stateKey: target,
  content: { membership, ...extra },
});
const pl = (sender: string, content: JsonObject): EventFields => ({ type: 'm.room.power_levels', stateKey: '', sender, content });
const invited = (room: TestRoom, user: string) => room.member(room.creator, user, 'invite');
const admins = { users: { [ALICE]: 100, [BOB]: 50 } };

const cases: Case[] = [
  // ---- general: the create event in the auth state, m.federate
  { expect: 'allow', name: 'message from a joined member', room: { members: [BOB] }, event: () => msg(BOB) },
  {
    expect: 'create.wrong_room',
    name: 'create event of another room',
    event: (room) => ({ ...msg(ALICE), roomId: '!other:example.com', prevEvents: [room.create.eventId] }),
  },
  { expect: 'federate.sender', name: 'remote sender in a room with m.federate false', room: { createContent: { 'm.federate': false } }, event: () => msg(RITA) },
  { expect: 'federate.sender', name: 'm.federate other than true counts as false (Synapse)', room: { createContent: { 'm.federate': 'no' } }, event: () => msg(RITA) },
  { expect: 'allow', name: 'm.federate false lets local members speak', room: { createContent: { 'm.federate': false }, members: [BOB] }, event: () => msg(BOB) },
  { expect: 'allow', name: 'm.federate true lets remote members speak', room: { createContent: { 'm.federate': true }, members: [RITA] }, event: () => msg(RITA) },
  {
    expect: 'federate.target',
    name: 'a local member cannot invite a remote user into a room with m.federate false',
    room: { createContent: { 'm.federate': false } },
    event: () => member(ALICE, RITA, 'invite'),
  },

  // ---- m.room.aliases (v1-5 special case; v6+ ordinary state)
  { expect: 'allow', name: 'aliases: the sender’s server as state_key, not even joined', versions: has('specialCaseAliasesAuth'), event: () => ({ type: 'm.room.aliases', stateKey: 'example.com', sender: EVELYN, content: { aliases: [] } }) },
  { expect: 'aliases.domain', name: 'aliases: another server as state_key', versions: has('specialCaseAliasesAuth'), event: () => ({ type: 'm.room.aliases', stateKey: 'remote.test', sender: ALICE, content: {} }) },
  { expect: 'aliases.state_key', name: 'aliases: empty state_key', versions: has('specialCaseAliasesAuth'), event: () => ({ type: 'm.room.aliases', stateKey: '', sender: ALICE, content: {} }) },
  { expect: 'aliases.state_key', name: 'aliases: not a state event', versions: has('specialCaseAliasesAuth'), event: () => ({ type: 'm.room.aliases', sender: ALICE, content: {} }) },
  { expect: 'sender.not_joined', name: 'aliases (v6+): a non-member may not', versions: not('specialCaseAliasesAuth'), event: () => ({ type: 'm.room.aliases', stateKey: 'example.com', sender: EVELYN, content: {} }) },
  { expect: 'event.power', name: 'aliases (v6+): needs state_default', versions: not('specialCaseAliasesAuth'), room: { members: [BOB] }, event: () => ({ type: 'm.room.aliases', stateKey: 'example.com', sender: BOB, content: {} }) },

  // ---- sender must be joined
  { expect: 'sender.not_joined', name: 'message from a non-member', event: () => msg(BOB) },
  { expect: 'sender.not_joined', name: 'message from an invited user', setup: (room) => invited(room, BOB), event: () => msg(BOB) },
  { expect: 'sender.not_joined', name: 'message from a member who left', room: { members: [BOB] }, setup: (room) => room.member(BOB, BOB, 'leave'), event: () => msg(BOB) },

  // ---- m.room.third_party_invite
  { expect: 'allow', name: 'third_party_invite at the invite level', room: { members: [BOB] }, event: () => ({ type: 'm.room.third_party_invite', stateKey: 'tok', sender: BOB, content: {} }) },
  {
    expect: 'third_party_invite.power',
    name: 'third_party_invite below the invite level',
    room: { members: [BOB], powerLevels: { users: { [ALICE]: 100 }, invite: 50 } },
    event: () => ({ type: 'm.room.third_party_invite', stateKey: 'tok', sender: BOB, content: {} }),
  },

  // ---- the required power level, state keys of users
  { expect: 'event.power', name: 'state event below state_default', room: { members: [BOB] }, event: () => ({ type: 'm.room.topic', stateKey: '', sender: BOB, content: { topic: 'x' } }) },
  { expect: 'allow', name: 'state event at state_default', room: { members: [BOB], powerLevels: admins }, event: () => ({ type: 'm.room.topic', stateKey: '', sender: BOB, content: { topic: 'x' } }) },
  { expect: 'event.power', name: 'message type raised in events', room: { members: [BOB], powerLevels: { users: { [ALICE]: 100 }, events: { 'm.room.message': 10 } } }, event: () => msg(BOB) },
  { expect: 'allow', name: 'state type lowered in events', room: { members: [BOB], powerLevels: { users: { [ALICE]: 100 }, events: { 'm.room.topic': 0 } } }, event: () => ({ type: 'm.room.topic', stateKey: '', sender: BOB, content: {} }) },
  { expect: 'event.power', name: 'events_default raised', room: { members: [BOB], powerLevels: { users: { [ALICE]: 100 }, events_default: 1 } }, event: () => msg(BOB) },
  { expect: 'event.power', name: 'no power levels: state needs 50, only the creator has 100', room: { powerLevels: null, members: [BOB] }, event: () => ({ type: 'm.room.name', stateKey: '', sender: BOB, content: {} }) },
  { expect: 'allow', name: 'no power levels: the creator may send state', room: { powerLevels: null }, event: () => ({ type: 'm.room.name', stateKey: '', sender: ALICE, content: {} }) },
  { expect: 'event.state_key_user', name: 'state_key of another user', event: () => ({ type: 'm.custom', stateKey: BOB, sender: ALICE, content: {} }) },
  { expect: 'allow', name: 'state_key of the sender', event: () => ({ type: 'm.custom', stateKey: ALICE, sender: ALICE, content: {} }) },

  // ---- redactions: a rule of their own in v1 and v2 only
  {
    expect: 'redaction.power',
    name: 'redaction below the redact level of another server’s event (v1, v2)',
    versions: (v) => v.eventFormat === 1,
    room: { members: [BOB] },
    event: () => ({ type: 'm.room.redaction', sender: BOB, redacts: '$other:remote.test', content: {} }),
  },
  {
    expect: 'allow',
    name: 'redaction of an event of the same server (v1, v2)',
    versions: (v) => v.eventFormat === 1,
    room: { members: [BOB] },
    event: () => ({ type: 'm.room.redaction', sender: BOB, redacts: '$other:example.com', content: {} }),
  },
  {
    expect: 'allow',
    name: 'redaction at the redact level',
    room: { members: [BOB], powerLevels: { ...admins, redact: 50 } },
    event: () => ({ type: 'm.room.redaction', sender: BOB, redacts: '$other:remote.test', content: { redacts: '$other:remote.test' } }),
  },
  {
    expect: 'allow',
    name: 'redaction below the redact level passes the rules (v3+: checked when applied)',
    versions: (v) => v.eventFormat !== 1,
    room: { members: [BOB] },
    event: () => ({ type: 'm.room.redaction', sender: BOB, redacts: '$other', content: { redacts: '$other' } }),
  },
  {
    expect: 'event.power',
    name: 'redaction type raised in events',
    room: { members: [BOB], powerLevels: { users: { [ALICE]: 100 }, events: { 'm.room.redaction': 50 } } },
    event: () => ({ type: 'm.room.redaction', sender: BOB, redacts: '$x:example.com', content: { redacts: '$x:example.com' } }),
  },

  // ---- m.room.member: shape
  { expect: 'member.no_state_key', name: 'member event without state_key', event: () => ({ type: 'm.room.member', sender: ALICE, content: { membership: 'join' } }) },
  { expect: 'member.no_membership', name: 'member event without membership', event: () => ({ type: 'm.room.member', stateKey: ALICE, sender: ALICE, content: {} }) },
  { expect: 'member.no_membership', name: 'member event with a non-string membership', event: () => member(ALICE, ALICE, 'join', { membership: 1 }) },
  { expect: 'member.unknown_membership', name: 'unknown membership', event: () => member(ALICE, BOB, 'befriend') },

  // ---- join
  { expect: 'member.join.not_invited', name: 'join: another user right after the create event', room: { powerLevels: null, joinRule: null }, event: (room) => ({ ...member(BOB, BOB, 'join'), prevEvents: [room.create.eventId] }) },
  { expect: 'allow', name: 'join: public room', event: () => member(BOB, BOB, 'join') },
  { expect: 'member.join.not_self', name: 'join: for another user', event: () => member(ALICE, BOB, 'join') },
  { expect: 'member.join.banned', name: 'join: banned user', setup: (room) => room.member(ALICE, BOB, 'ban'), event: () => member(BOB, BOB, 'join') },
  { expect: 'member.join.not_invited', name: 'join: invite room without an invite', room: { joinRule: 'invite' }, event: () => member(BOB, BOB, 'join') },
  { expect: 'allow', name: 'join: invite room with an invite', room: { joinRule: 'invite' }, setup: (room) => invited(room, BOB), event: () => member(BOB, BOB, 'join') },
  { expect: 'allow', name: 'join: already joined (profile change)', room: { joinRule: 'invite', members: [BOB] }, event: () => member(BOB, BOB, 'join', { displayname: 'Bob' }) },
  { expect: 'member.join.not_invited', name: 'join: no join rules event counts as invite', room: { joinRule: null }, event: () => member(BOB, BOB, 'join') },
  { expect: 'member.join.not_invited', name: 'join: join rules event without join_rule counts as invite', room: { joinRule: null }, setup: (room) => room.add({ type: 'm.room.join_rules', stateKey: '', sender: ALICE, content: { join_rules: 'private' } }), event: () => member(BOB, BOB, 'join') },
  { expect: 'member.join.join_rule', name: 'join: private room, even invited', room: { joinRule: 'private' }, setup: (room) => invited(room, BOB), event: () => member(BOB, BOB, 'join') },
  { expect: 'member.join.join_rule', name: 'join: a join rule that is not a string', room: { joinRule: null }, setup: (room) => room.add({ type: 'm.room.join_rules', stateKey: '', sender: ALICE, content: { join_rule: 7 } }), event: () => member(BOB, BOB, 'join') },
  { expect: 'member.join.not_invited', name: 'join: knock room without an invite (v7+)', versions: has('knockJoinRule'), room: { joinRule: 'knock' }, event: () => member(BOB, BOB, 'join') },
  { expect: 'allow', name: 'join: knock room with an invite (v7+)', versions: has('knockJoinRule'), room: { joinRule: 'knock' }, setup: (room) => invited(room, BOB), event: () => member(BOB, BOB, 'join') },
  { expect: 'member.join.join_rule', name: 'join: knock is unknown before v7, even invited', versions: not('knockJoinRule'), room: { joinRule: 'knock' }, setup: (room) => invited(room, BOB), event: () => member(BOB, BOB, 'join') },

  // ---- join: restricted (v8+) and knock_restricted (v10+)
  ...(['restricted', 'knock_restricted'] as const).flatMap((rule): Case[] => {
    const supported = rule === 'restricted' ? has('restrictedJoinRule') : has('knockRestrictedJoinRule');
    const via = (user: string, signedBy = 'example.com'): EventFields => ({
      ...member(EVELYN, EVELYN, 'join', { join_authorised_via_users_server: user }),
      signatures: { 'example.com': { 'ed25519:a': 'x' }, [signedBy]: { 'ed25519:b': 'y' } },
    });
    return [
      { expect: 'allow', name: `join ${rule}: invited`, versions: supported, room: { joinRule: rule }, setup: (room) => invited(room, EVELYN), event: () => member(EVELYN, EVELYN, 'join') },
      { expect: 'allow', name: `join ${rule}: authorised by a joined member who may invite`, versions: supported, room: { joinRule: rule, members: [BOB] }, event: () => via(BOB) },
      { expect: 'member.join.restricted.no_authoriser', name: `join ${rule}: neither invited nor authorised`, versions: supported, room: { joinRule: rule }, event: () => member(EVELYN, EVELYN, 'join') },
      { expect: 'member.join.restricted.authoriser_not_joined', name: `join ${rule}: authorising user not joined`, versions: supported, room: { joinRule: rule }, event: () => via(CHARLIE) },
      {
        expect: 'member.join.restricted.authoriser_power',
        name: `join ${rule}: authorising user below the invite level`,
        versions: supported,
        room: { joinRule: rule, members: [BOB], powerLevels: { users: { [ALICE]: 100 }, invite: 50 } },
        event: () => via(BOB),
      },
      { expect: 'member.join.authoriser_unsigned', name: `join ${rule}: not signed by the authorising server`, versions: supported, room: { joinRule: rule, members: [RITA] }, event: () => via(RITA, 'example.com') },
      { expect: 'allow', name: `join ${rule}: signed by the authorising server`, versions: supported, room: { joinRule: rule, members: [RITA] }, event: () => via(RITA, 'remote.test') },
      { expect: 'member.join.join_rule', name: `join ${rule}: unknown join rule in older versions, even invited`, versions: (v) => !supported(v), room: { joinRule: rule }, setup: (room) => invited(room, EVELYN), event: () => member(EVELYN, EVELYN, 'join') },
    ];
  }),
  {
    expect: 'member.join.authoriser_invalid',
    name: 'join: join_authorised_via_users_server that is not a user ID (v8+)',
    versions: has('restrictedJoinRule'),
    event: () => member(EVELYN, EVELYN, 'join', { join_authorised_via_users_server: 42 }),
  },
  { expect: 'allow', name: 'join: join_authorised_via_users_server means nothing before v8', versions: not('restrictedJoinRule'), event: () => member(EVELYN, EVELYN, 'join', { join_authorised_via_users_server: 42 }) },

  // ---- invite
  { expect: 'allow', name: 'invite by a joined member', event: () => member(ALICE, BOB, 'invite') },
  { expect: 'allow', name: 'invite of a user who left', room: { members: [BOB] }, setup: (room) => room.member(BOB, BOB, 'leave'), event: () => member(ALICE, BOB, 'invite') },
  { expect: 'member.invite.sender_not_joined', name: 'invite by a non-member', event: () => member(BOB, CHARLIE, 'invite') },
  { expect: 'member.invite.target_joined', name: 'invite of a joined user', room: { members: [BOB] }, event: () => member(ALICE, BOB, 'invite') },
  { expect: 'member.invite.target_banned', name: 'invite of a banned user', setup: (room) => room.member(ALICE, BOB, 'ban'), event: () => member(ALICE, BOB, 'invite') },
  { expect: 'member.invite.power', name: 'invite below the invite level', room: { members: [BOB], powerLevels: { users: { [ALICE]: 100 }, invite: 50 } }, event: () => member(BOB, CHARLIE, 'invite') },

  // ---- leave: self, kick, unban
  { expect: 'allow', name: 'leave: joined member leaves', room: { members: [BOB] }, event: () => member(BOB, BOB, 'leave') },
  { expect: 'allow', name: 'leave: invited user rejects', setup: (room) => invited(room, BOB), event: () => member(BOB, BOB, 'leave') },
  { expect: 'allow', name: 'leave: knocking user withdraws (v7+)', versions: has('knockJoinRule'), room: { joinRule: 'knock' }, setup: (room) => room.member(BOB, BOB, 'knock'), event: () => member(BOB, BOB, 'leave') },
  { expect: 'member.leave.not_member', name: 'leave: never in the room', event: () => member(BOB, BOB, 'leave') },
  { expect: 'member.leave.not_member', name: 'leave: already left', room: { members: [BOB] }, setup: (room) => room.member(BOB, BOB, 'leave'), event: () => member(BOB, BOB, 'leave') },
  { expect: 'member.leave.not_member', name: 'leave: banned user cannot unban themself', setup: (room) => room.member(ALICE, BOB, 'ban'), event: () => member(BOB, BOB, 'leave') },
  { expect: 'allow', name: 'kick by a member above the kick level and the target', room: { members: [BOB] }, event: () => member(ALICE, BOB, 'leave') },
  { expect: 'member.leave.sender_not_joined', name: 'kick by a non-member', room: { members: [BOB] }, event: () => member(CHARLIE, BOB, 'leave') },
  { expect: 'member.leave.kick_power', name: 'kick below the kick level', room: { members: [BOB, CHARLIE] }, event: () => member(BOB, CHARLIE, 'leave') },
  { expect: 'member.leave.kick_power', name: 'kick of a user at the same level', room: { members: [BOB, CHARLIE], powerLevels: { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 50 } } }, event: () => member(BOB, CHARLIE, 'leave') },
  { expect: 'allow', name: 'unban at the ban and kick levels', setup: (room) => room.member(ALICE, BOB, 'ban'), event: () => member(ALICE, BOB, 'leave') },
  {
    expect: 'member.leave.unban_power',
    name: 'unban below the ban level',
    room: { members: [CHARLIE], powerLevels: { users: { [ALICE]: 100, [CHARLIE]: 60 }, ban: 70, kick: 10 } },
    setup: (room) => room.member(ALICE, BOB, 'ban'),
    event: () => member(CHARLIE, BOB, 'leave'),
  },
  {
    expect: 'member.leave.kick_power',
    name: 'unban at the ban level but below the kick level',
    room: { members: [CHARLIE], powerLevels: { users: { [ALICE]: 100, [CHARLIE]: 60 }, ban: 50, kick: 70 } },
    setup: (room) => room.member(ALICE, BOB, 'ban'),
    event: () => member(CHARLIE, BOB, 'leave'),
  },

  // ---- ban
  { expect: 'allow', name: 'ban at the ban level of a lower user', room: { members: [BOB] }, event: () => member(ALICE, BOB, 'ban') },
  { expect: 'allow', name: 'ban of a user not in the room', event: () => member(ALICE, EVELYN, 'ban') },
  { expect: 'member.ban.sender_not_joined', name: 'ban by a non-member', event: () => member(CHARLIE, BOB, 'ban') },
  { expect: 'member.ban.power', name: 'ban below the ban level', room: { members: [BOB, CHARLIE] }, event: () => member(BOB, CHARLIE, 'ban') },
  { expect: 'member.ban.power', name: 'ban of a user at the same level', room: { members: [BOB, CHARLIE], powerLevels: { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 50 } } }, event: () => member(BOB, CHARLIE, 'ban') },

  // ---- knock (v7+; knock_restricted v10+)
  { expect: 'allow', name: 'knock on a knock room', versions: has('knockJoinRule'), room: { joinRule: 'knock' }, event: () => member(BOB, BOB, 'knock') },
  { expect: 'allow', name: 'knock again', versions: has('knockJoinRule'), room: { joinRule: 'knock' }, setup: (room) => room.member(BOB, BOB, 'knock'), event: () => member(BOB, BOB, 'knock') },
  { expect: 'allow', name: 'knock on a knock_restricted room (v10+)', versions: has('knockRestrictedJoinRule'), room: { joinRule: 'knock_restricted' }, event: () => member(BOB, BOB, 'knock') },
  { expect: 'member.knock.join_rule', name: 'knock on a knock_restricted room before v10', versions: (v) => v.knockJoinRule && !v.knockRestrictedJoinRule, room: { joinRule: 'knock_restricted' }, event: () => member(BOB, BOB, 'knock') },
  { expect: 'member.knock.join_rule', name: 'knock on an invite room', versions: has('knockJoinRule'), room: { joinRule: 'invite' }, event: () => member(BOB, BOB, 'knock') },
  { expect: 'member.knock.not_self', name: 'knock for another user', versions: has('knockJoinRule'), room: { joinRule: 'knock' }, event: () => member(ALICE, BOB, 'knock') },
  { expect: 'member.knock.membership', name: 'knock while invited', versions: has('knockJoinRule'), room: { joinRule: 'knock' }, setup: (room) => invited(room, BOB), event: () => member(BOB, BOB, 'knock') },
  { expect: 'member.knock.membership', name: 'knock while joined', versions: has('knockJoinRule'), room: { joinRule: 'knock', members: [BOB] }, event: () => member(BOB, BOB, 'knock') },
  { expect: 'member.knock.membership', name: 'knock while banned', versions: has('knockJoinRule'), room: { joinRule: 'knock' }, setup: (room) => room.member(ALICE, BOB, 'ban'), event: () => member(BOB, BOB, 'knock') },
  { expect: 'member.unknown_membership', name: 'knock before v7', versions: not('knockJoinRule'), room: { joinRule: 'knock' }, event: () => member(BOB, BOB, 'knock') },

  // ---- m.room.power_levels: shape
  { expect: 'allow', name: 'power levels: first event, anything goes', room: { powerLevels: null }, event: () => pl(ALICE, { users: { [ALICE]: 100, [BOB]: 1000 }, ban: 1000 }) },
  { expect: 'power_levels.users', name: 'power levels: users not an object', event: () => pl(ALICE, { users: [] }) },
  { expect: 'power_levels.users', name: 'power levels: a users key that is not a user ID', event: () => pl(ALICE, { users: { [ALICE]: 100, bob: 10 } }) },
  { expect: 'power_levels.users', name: 'power levels: a users value that is not a level', event: () => pl(ALICE, { users: { [ALICE]: 100, [BOB]: 'ten' } }) },
  { expect: 'allow', name: 'power levels: string levels before v10', versions: not('enforceIntPowerLevels'), event: () => pl(ALICE, { users: { [ALICE]: ' +100 ', [BOB]: '050' }, ban: '50' }) },
  { expect: 'power_levels.users', name: 'power levels: a string users value in v10+', versions: has('enforceIntPowerLevels'), event: () => pl(ALICE, { users: { [ALICE]: 100, [BOB]: '50' } }) },
  { expect: 'power_levels.not_integer', name: 'power levels: a string named level in v10+', versions: has('enforceIntPowerLevels'), event: () => pl(ALICE, { users: { [ALICE]: 100 }, ban: '50' }) },
  { expect: 'power_levels.not_integer', name: 'power levels: a string events level in v10+', versions: has('enforceIntPowerLevels'), event: () => pl(ALICE, { users: { [ALICE]: 100 }, events: { 'm.room.name': '50' } }) },
  { expect: 'power_levels.not_integer', name: 'power levels: notifications not an object in v10+', versions: has('enforceIntPowerLevels'), event: () => pl(ALICE, { users: { [ALICE]: 100 }, notifications: 50 }) },
  { expect: 'power_levels.invalid_level', name: 'power levels: a named level that is no number before v10', versions: not('enforceIntPowerLevels'), event: () => pl(ALICE, { users: { [ALICE]: 100 }, ban: 'fifty' }) },
  { expect: 'power_levels.invalid_level', name: 'power levels: events not an object before v10', versions: not('enforceIntPowerLevels'), event: () => pl(ALICE, { users: { [ALICE]: 100 }, events: [] }) },

  // ---- m.room.power_levels: changes
  { expect: 'allow', name: 'power levels: raise a level up to one’s own', room: { members: [BOB], powerLevels: admins }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 50 }, kick: 50, events: { 'm.room.name': 50 } }) },
  { expect: 'power_levels.named.new', name: 'power levels: raise a level above one’s own', room: { members: [BOB], powerLevels: admins }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 50 }, kick: 51 }) },
  { expect: 'power_levels.named.old', name: 'power levels: lower a level that is above one’s own', room: { members: [BOB], powerLevels: { ...admins, ban: 60 } }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 50 }, ban: 40 }) },
  { expect: 'power_levels.named.old', name: 'power levels: remove a level that is above one’s own', room: { members: [BOB], powerLevels: { ...admins, ban: 60 } }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 50 } }) },
  { expect: 'power_levels.events.new', name: 'power levels: an events entry above one’s own', room: { members: [BOB], powerLevels: admins }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 50 }, events: { 'm.room.name': 75 } }) },
  { expect: 'power_levels.events.old', name: 'power levels: remove an events entry above one’s own', room: { members: [BOB], powerLevels: { ...admins, events: { 'm.room.tombstone': 100 } } }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 50 } }) },
  { expect: 'power_levels.notifications.new', name: 'power levels: a notifications entry above one’s own (v6+)', versions: has('limitNotificationsPowerLevels'), room: { members: [BOB], powerLevels: admins }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 50 }, notifications: { room: 75 } }) },
  { expect: 'power_levels.notifications.old', name: 'power levels: lower a notifications entry above one’s own (v6+)', versions: has('limitNotificationsPowerLevels'), room: { members: [BOB], powerLevels: { ...admins, notifications: { room: 75 } } }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 50 }, notifications: { room: 20 } }) },
  { expect: 'allow', name: 'power levels: notifications are not checked before v6', versions: not('limitNotificationsPowerLevels'), room: { members: [BOB], powerLevels: admins }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 50 }, notifications: { room: 75 } }) },
  { expect: 'power_levels.users.old', name: 'power levels: change a user at one’s own level', room: { members: [BOB, CHARLIE], powerLevels: { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 50 } } }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 0 } }) },
  { expect: 'power_levels.users.old', name: 'power levels: remove a user above one’s own level', room: { members: [BOB], powerLevels: admins }, event: () => pl(BOB, { users: { [BOB]: 50 } }) },
  { expect: 'power_levels.users.new', name: 'power levels: give a user more than one’s own level', room: { members: [BOB], powerLevels: admins }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 51 } }) },
  { expect: 'power_levels.users.new', name: 'power levels: raise oneself', room: { members: [BOB], powerLevels: admins }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 60 } }) },
  { expect: 'allow', name: 'power levels: lower oneself', room: { members: [BOB], powerLevels: admins }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 10 } }) },
  { expect: 'allow', name: 'power levels: give a user one’s own level', room: { members: [BOB], powerLevels: admins }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 50 } }) },
  { expect: 'allow', name: 'power levels: the same value written differently is no change (v1-9)', versions: not('enforceIntPowerLevels'), room: { members: [BOB], powerLevels: { ...admins, ban: 60 } }, event: () => pl(BOB, { users: { [ALICE]: '100', [BOB]: 50 }, ban: ' 60' }) },
  { expect: 'event.power', name: 'power levels: below the level to send them', room: { members: [BOB], powerLevels: { ...admins, events: { 'm.room.power_levels': 100 } } }, event: () => pl(BOB, { users: { [ALICE]: 100, [BOB]: 50 } }) },
  {
    expect: 'allow',
    name: 'power levels with a state key are not compared with the room’s (Synapse)',
    room: { members: [BOB], powerLevels: admins },
    event: () => ({ ...pl(BOB, { users: { [BOB]: 50 } }), stateKey: 'x' }),
  },
];

for (const c of cases) {
  const versions = ALL_VERSIONS.filter(c.versions ?? any);
  t.test(`${c.expect}: ${c.name}`, async (t) => {
    t.ok(versions.length > 0, 'applies to some version');
    for (const version of versions) {
      const room = new TestRoom(version, c.room);
      c.setup?.(room);
      const result = room.check(c.event(room));
      if (c.expect === 'allow') t.same(result, { ok: true }, `v${version.id}`);
      else t.match(result, { ok: false, rule: c.expect, reason: String }, `v${version.id}`);
    }
  });
}

t.test('create event rules', async (t) => {
  for (const version of ALL_VERSIONS) {
    const creatorContent: JsonObject = version.implicitRoomCreator ? {} : { creator: ALICE };
    const create = (f: Partial<EventFields>) => makeEvent(version, { type: 'm.room.create', stateKey: '', sender: ALICE, roomId: '!r:example.com', content: { ...creatorContent }, ...f });
    const check = (f: Partial<EventFields>) => checkEventAuth(create(f), new Map());
    t.same(check({}), { ok: true }, `v${version.id} allow`);
    t.same(check({ content: { ...creatorContent, room_version: '9' } }), { ok: true }, `v${version.id} known room_version`);
    t.match(check({ prevEvents: ['$x'] }), { rule: 'create.prev_events' });
    t.match(check({ roomId: '!r:remote.test' }), { rule: 'create.room_id_domain' });
    t.match(check({ content: { ...creatorContent, room_version: '99' } }), { rule: 'create.room_version' });
    t.match(check({ content: { ...creatorContent, room_version: 9 } }), { rule: 'create.room_version' });
    if (version.implicitRoomCreator) t.same(check({ content: {} }), { ok: true }, 'v11: no creator needed');
    else t.match(check({ content: {} }), { rule: 'create.no_creator' }, `v${version.id}: creator required`);
  }
});

t.test('create.missing: no create event in the auth state', async (t) => {
  for (const version of ALL_VERSIONS) {
    const event = makeEvent(version, msg(ALICE));
    t.match(checkEventAuth(event, new Map()), { ok: false, rule: 'create.missing' });
  }
});

t.test('the creator join needs the create event as the only prev event', async (t) => {
  for (const version of ALL_VERSIONS) {
    const room = new TestRoom(version, { powerLevels: null, joinRule: null });
    // Two prev events: the creator join special case does not apply, and the invite-only default keeps them out.
    const second = room.build(member(ALICE, ALICE, 'join'));
    const event = { ...room.build(member(ALICE, ALICE, 'join')), prevEvents: [room.create.eventId, second.eventId] };
    t.match(checkEventAuth(event, new Map([...room.state].filter(([slot]) => slot.startsWith('m.room.create')))), { rule: 'member.join.not_invited' }, `v${version.id}`);
  }
});

t.test('v11 takes the create event’s sender as the creator, older versions content.creator', async (t) => {
  for (const version of ALL_VERSIONS) {
    // The create event names Bob as creator, but Alice sends it.
    const create = makeEvent(version, { type: 'm.room.create', stateKey: '', sender: ALICE, roomId: '!r:example.com', content: { creator: BOB } });
    const state = new Map([['m.room.create\u0000', create]]);
    const join = (user: string) => makeEvent(version, { ...member(user, user, 'join'), roomId: '!r:example.com', prevEvents: [create.eventId] });
    const creator = version.implicitRoomCreator ? ALICE : BOB;
    const other = version.implicitRoomCreator ? BOB : ALICE;
    t.same(checkEventAuth(join(creator), state), { ok: true }, `v${version.id}: ${creator} is the creator`);
    t.match(checkEventAuth(join(other), state), { rule: 'member.join.not_invited' }, `v${version.id}: ${other} is not`);
  }
});
