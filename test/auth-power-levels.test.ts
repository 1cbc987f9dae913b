// Power levels as the rules read them: the value formats each room version
// accepts (the spec's stringy and floaty power levels), defaults, the creator
// without a power levels event, and content keys that are Object.prototype names.
import t from 'tap';
import type { JsonObject } from '../src/matrix/canonical-json.js';
import { namedPowerLevel, parseLevel, requiredPowerLevel, roomCreator, userPowerLevel } from '../src/matrix/auth/index.js';
import { ALICE, ALL_VERSIONS, BOB, CHARLIE, makeEvent, versionOf } from './harness/room-events.js';

const plEvent = (version: string, content: JsonObject) => makeEvent(versionOf(version as '1'), { type: 'm.room.power_levels', stateKey: '', sender: ALICE, content });
const createEvent = (version: string, content: JsonObject = { creator: ALICE }) =>
  makeEvent(versionOf(version as '1'), { type: 'm.room.create', stateKey: '', sender: ALICE, content });

t.test('parseLevel: integers everywhere, strings up to v9, floats up to v5 (truncated)', async (t) => {
  for (const version of ALL_VERSIONS) {
    const v = `v${version.id}`;
    t.equal(parseLevel(50, version), 50, `${v} integer`);
    t.equal(parseLevel(-7, version), -7, `${v} negative integer`);
    t.equal(parseLevel(undefined, version), undefined, `${v} absent`);
    t.equal(parseLevel(null, version), undefined, `${v} null`);
    t.equal(parseLevel(true, version), undefined, `${v} boolean`);
    t.equal(parseLevel({}, version), undefined, `${v} object`);
    t.equal(parseLevel(Infinity, version), undefined, `${v} infinity`);
    t.equal(parseLevel(NaN, version), undefined, `${v} NaN`);
    const strings: Array<[string, number]> = [
      ['100', 100],
      ['000100', 100],
      ['+100', 100],
      ['-100', -100],
      [' 100 ', 100],
      [' 00100 ', 100],
      [' +100 ', 100],
      [' -100 ', -100],
    ];
    for (const [text, level] of strings) t.equal(parseLevel(text, version), version.enforceIntPowerLevels ? undefined : level, `${v} ${JSON.stringify(text)}`);
    for (const text of ['', ' ', '1.5', '1e3', '0x10', '--1', '+-1', '1 0', 'ten', '１００']) t.equal(parseLevel(text, version), undefined, `${v} ${JSON.stringify(text)} is not a level`);
    t.equal(parseLevel(50.57, version), version.enforceIntPowerLevels ? undefined : 50, `${v} float`);
    t.equal(parseLevel(-1.5, version), version.enforceIntPowerLevels ? undefined : -1, `${v} negative float truncates toward zero`);
    t.equal(parseLevel(5.114698e4, version), version.enforceIntPowerLevels ? undefined : 51146, `${v} the spec's 5.114698E4`);
  }
});

t.test('userPowerLevel', async (t) => {
  for (const version of ['1', '6', '9', '10', '11']) {
    const v = `v${version}`;
    const create = createEvent(version);
    const levels = plEvent(version, { users: { [ALICE]: 100, [BOB]: 50 }, users_default: 10 });
    t.equal(userPowerLevel(ALICE, levels, create), 100, `${v} listed`);
    t.equal(userPowerLevel(BOB, levels, create), 50, `${v} listed`);
    t.equal(userPowerLevel(CHARLIE, levels, create), 10, `${v} users_default`);
    t.equal(userPowerLevel(CHARLIE, plEvent(version, { users: { [ALICE]: 100 } }), create), 0, `${v} no users_default: 0`);
    t.equal(userPowerLevel(CHARLIE, plEvent(version, { users: [] }), create), 0, `${v} users not an object`);
    t.equal(userPowerLevel('constructor', plEvent(version, { users: {} }), create), 0, `${v} a prototype name is no entry`);
    t.equal(userPowerLevel('__proto__', plEvent(version, JSON.parse('{"users": {"__proto__": 70}}')), create), 70, `${v} "__proto__" as a real key`);
    t.equal(userPowerLevel(CHARLIE, plEvent(version, { users: { [CHARLIE]: 'x' }, users_default: 5 }), create), 5, `${v} unreadable entry: users_default`);
    t.equal(userPowerLevel(ALICE, undefined, create), 100, `${v} no power levels: the creator has 100`);
    t.equal(userPowerLevel(BOB, undefined, create), 0, `${v} no power levels: others 0`);
    t.equal(userPowerLevel(ALICE, undefined, undefined), 0, `${v} nothing known`);
  }
  t.equal(userPowerLevel(BOB, plEvent('9', { users: { [BOB]: '75' } }), createEvent('9')), 75, 'v9 string level');
  t.equal(userPowerLevel(BOB, plEvent('10', { users: { [BOB]: '75' }, users_default: 3 }), createEvent('10')), 3, 'v10 string level is unreadable');
  t.equal(userPowerLevel(BOB, plEvent('5', { users: { [BOB]: 50.57 } }), createEvent('5')), 50, 'v5 float level');
  // v11: the create event's sender is the creator, whatever content.creator says.
  t.equal(userPowerLevel(BOB, undefined, createEvent('11', { creator: BOB })), 0, 'v11 ignores content.creator');
  t.equal(userPowerLevel(ALICE, undefined, createEvent('11', {})), 100, 'v11 sender is the creator');
  t.equal(userPowerLevel(BOB, undefined, createEvent('10', { creator: BOB })), 100, 'v10 content.creator');
  t.equal(roomCreator(createEvent('10', {})), undefined, 'v10 without creator: none');
});

t.test('named and required levels with their defaults', async (t) => {
  t.equal(namedPowerLevel(undefined, 'invite'), 0);
  t.equal(namedPowerLevel(undefined, 'kick'), 50);
  t.equal(namedPowerLevel(undefined, 'ban'), 50);
  t.equal(namedPowerLevel(undefined, 'redact'), 50);
  const levels = plEvent('9', { invite: '25', kick: 10, ban: 'x', events: { 'm.room.name': 70, 'm.room.bad': 'x' }, state_default: 40, events_default: 5 });
  t.equal(namedPowerLevel(levels, 'invite'), 25);
  t.equal(namedPowerLevel(levels, 'kick'), 10);
  t.equal(namedPowerLevel(levels, 'ban'), 50, 'unreadable: the default');
  t.equal(requiredPowerLevel(levels, 'm.room.name', true), 70, 'listed type');
  t.equal(requiredPowerLevel(levels, 'm.room.topic', true), 40, 'state_default');
  t.equal(requiredPowerLevel(levels, 'm.room.message', false), 5, 'events_default');
  t.equal(requiredPowerLevel(levels, 'm.room.bad', false), 5, 'unreadable entry: events_default');
  t.equal(requiredPowerLevel(levels, 'toString', false), 5, 'a prototype name is no entry');
  t.equal(requiredPowerLevel(plEvent('9', { events: [] }), 'm.room.name', true), 50, 'events not an object');
  t.equal(requiredPowerLevel(undefined, 'm.room.topic', true), 50, 'no power levels: state needs 50 (Synapse, gomatrixserverlib)');
  t.equal(requiredPowerLevel(undefined, 'm.room.message', false), 0, 'no power levels: messages 0');
});
