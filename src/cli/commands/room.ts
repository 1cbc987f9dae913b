import type { RoomCommandOptions, RoomSubcommand } from '../../commands/room.js';
import type { ArgSpec, CommandSpec, OptionSpec, RunContext } from '../types.js';

const CONFIG: OptionSpec = {
  type: 'string',
  short: 'c',
  value: 'FILE',
  description: "The homeserver.yaml of the running fedpeer serve (required): its type: control listener and token (control_token, or data_dir/control.token) are how the command reaches it.",
};
const AS: OptionSpec = { type: 'string', value: 'USER', description: 'The local user acting (required): a test_users entry, or its local part.' };
const ROOM_ID: ArgSpec = { name: 'ROOM_ID', what: 'the ROOM_ID (!opaque:server)', required: true };

async function runRoom(subcommand: RoomSubcommand, { io, args }: RunContext): Promise<number> {
  const { roomCommand } = await import('../../commands/room.js');
  const options: RoomCommandOptions = { subcommand, args: args.positionals, inviteOnly: args.flag('invite-only'), json: args.flag('json'), via: args.list('via') };
  for (const [option, field] of [['config', 'config'], ['as', 'as'], ['alias', 'alias'], ['room-version', 'roomVersion'], ['wait-for-body', 'waitForBody'], ['timeout', 'timeout']] as const) {
    const value = args.string(option);
    if (value !== undefined) options[field] = value;
  }
  return roomCommand(io, options);
}

export const room: CommandSpec = {
  name: 'room',
  summary: 'Drive the room peer of a running fedpeer serve: create, join, send, invite, leave, read or wait for the timeline.',
  description:
    'Each subcommand is a call to the control API of the server --config names (docs/CONTROL.md); start it first with fedpeer serve --config FILE. Exit 0 done, 1 failed (the server\'s Matrix error, or the timeout of --wait-for-body), 2 a bad command line.',
  subcommands: [
    {
      name: 'create',
      summary: 'Create a room hosted here (room version 10 unless asked, public unless --invite-only) and print its room ID.',
      options: {
        config: CONFIG,
        as: AS,
        alias: { type: 'string', value: 'LOCALPART', description: 'Publish #LOCALPART:server_name for it, answered by the directory query.' },
        'room-version': { type: 'string', value: 'V', description: 'The room version, 1 to 11 (default 10).' },
        'invite-only': { type: 'boolean', description: 'join_rule invite: only invited users may join.' },
      },
      examples: ['fedpeer room create --config fedpeer.yaml --as alice --alias lobby --room-version 9'],
      run: (ctx) => runRoom('create', ctx),
    },
    {
      name: 'join',
      summary: 'Join a room here or on another server (by ID or #alias) and print its room ID.',
      args: [{ name: 'ROOM_ID_OR_ALIAS', what: 'the ROOM_ID_OR_ALIAS to join (!opaque:server or #alias:server)', required: true }],
      options: {
        config: CONFIG,
        as: AS,
        via: { type: 'string', multiple: true, value: 'SERVER', description: "A server in the room to ask (default: the room ID's or alias's server)." },
      },
      examples: ["fedpeer room join --config fedpeer.yaml --as alice '#walk:hs1.test'"],
      run: (ctx) => runRoom('join', ctx),
    },
    {
      name: 'send',
      summary: 'Send an m.text message and print its event ID.',
      args: [ROOM_ID, { name: 'TEXT', what: 'the TEXT to send', required: true }],
      options: { config: CONFIG, as: AS },
      examples: ["fedpeer room send --config fedpeer.yaml --as alice '!abc:hs1.test' 'hello Synapse'"],
      run: (ctx) => runRoom('send', ctx),
    },
    {
      name: 'invite',
      summary: "Invite a user (of this or another server) and print the invite's event ID.",
      args: [ROOM_ID, { name: 'USER_ID', what: 'the USER_ID to invite (@name:server)', required: true }],
      options: { config: CONFIG, as: AS },
      examples: ["fedpeer room invite --config fedpeer.yaml --as alice '!abc:fedpeer1.test' @user1:hs1.test"],
      run: (ctx) => runRoom('invite', ctx),
    },
    {
      name: 'leave',
      summary: 'Leave a room (or decline an invite) and print the event ID.',
      args: [ROOM_ID],
      options: { config: CONFIG, as: AS },
      examples: ["fedpeer room leave --config fedpeer.yaml --as alice '!abc:hs1.test'"],
      run: (ctx) => runRoom('leave', ctx),
    },
    {
      name: 'events',
      summary: 'Print the timeline as fedpeer knows it, one line per event; or wait for a message with a given body.',
      description: 'With --wait-for-body: exit 0 (printing the event) once an m.room.message with that body is in the timeline, 1 at the timeout.',
      args: [ROOM_ID],
      options: {
        config: CONFIG,
        json: { type: 'boolean', description: 'Print the events as JSON (with their status: accepted, soft-failed).' },
        'wait-for-body': { type: 'string', value: 'TEXT', description: 'Wait for an m.room.message whose body is TEXT.' },
        timeout: { type: 'string', value: 'SECONDS', description: 'How long --wait-for-body waits, 0 to 86400 (default 30).' },
      },
      examples: [
        "fedpeer room events --config fedpeer.yaml '!abc:hs1.test' --json",
        "fedpeer room events --config fedpeer.yaml '!abc:hs1.test' --wait-for-body 'hello fedpeer' --timeout 30",
      ],
      run: (ctx) => runRoom('events', ctx),
    },
  ],
};
