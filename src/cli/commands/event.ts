import { OUTBOUND_OPTIONS, outboundArgs } from '../options.js';
import type { EventCommandOptions } from '../../commands/event.js';
import type { CommandSpec, OptionSpec, RunContext } from '../types.js';

const ROOM_VERSION: OptionSpec = { type: 'string', value: 'V', description: 'The room version the event belongs to, 1 to 11 (required): it decides the format, the redaction rules and the event ID.' };

/** The options a subcommand declared (the parser has refused the rest), under eventCommand's names. */
const FIELDS = { 'room-version': 'roomVersion', key: 'key', 'server-name': 'serverName', 'public-key': 'publicKey', 'key-id': 'keyId' } as const;

async function runEvent(subcommand: string, { io, args }: RunContext, outbound = false): Promise<number> {
  const { eventCommand } = await import('../../commands/event.js');
  const given: EventCommandOptions = { subcommand };
  for (const [option, field] of Object.entries(FIELDS)) {
    const value = args.string(option);
    if (value !== undefined) given[field] = value;
  }
  return eventCommand(io, { ...given, ...(outbound ? outboundArgs(args) : {}) });
}

export const event: CommandSpec = {
  name: 'event',
  summary: 'One room event (a PDU) on stdin: sign it, compute its ID, redact it, verify it.',
  description:
    'For conformance work: each reads one event as JSON on stdin and prints canonical JSON or one line. Exit 0 done, 1 bad input or an invalid event, 2 a bad command line (docs/ROOMS.md).',
  subcommands: [
    {
      name: 'sign',
      summary: 'Print the event with hashes and signatures added, by every key in the file.',
      description: "As Synapse's scripts-dev/sign_json.py --sign-event-room-version does (which signs with the first key only). Nothing is checked, so deliberately malformed events can be signed for negative tests.",
      options: {
        'room-version': ROOM_VERSION,
        key: { type: 'string', value: 'FILE', description: "A signing key file in Synapse's format (required)." },
        'server-name': { type: 'string', value: 'NAME', description: 'The server name to sign as (required).' },
      },
      examples: ['fedpeer event sign --room-version 10 --key my.signing.key --server-name my.test < event.json > signed.json'],
      run: (ctx) => runEvent('sign', ctx),
    },
    {
      name: 'id',
      summary: "Print the event's ID (room versions 1 and 2: the event_id it carries; later ones: its reference hash).",
      options: { 'room-version': ROOM_VERSION },
      examples: ['fedpeer event id --room-version 10 < signed.json'],
      run: (ctx) => runEvent('id', ctx),
    },
    {
      name: 'redact',
      summary: 'Print the redacted form of the event, by the rules of its room version.',
      options: { 'room-version': ROOM_VERSION },
      examples: ['fedpeer event redact --room-version 11 < signed.json'],
      run: (ctx) => runEvent('redact', ctx),
    },
    {
      name: 'verify',
      summary: "Check the event's format, every required signature and its content hash; exit 0 when all pass, 1 with the reason.",
      description:
        "The keys are the one given (--public-key and --key-id: the sender's server's, unless --server-name says whose), or with --config fetched through fedpeer's key store (direct fetch, then trusted_key_servers, with the config's resolution and trust settings) and cached in data_dir.",
      options: {
        'room-version': ROOM_VERSION,
        'public-key': { type: 'string', value: 'BASE64', description: 'An Ed25519 public key, unpadded base64 (with --key-id).' },
        'key-id': { type: 'string', value: 'ed25519:ID', description: "The id of --public-key." },
        'server-name': { type: 'string', value: 'NAME', description: "Whose key --public-key is (default the sender's server)." },
        ...OUTBOUND_OPTIONS,
        config: { ...OUTBOUND_OPTIONS.config!, description: 'Fetch the keys of every required server through the key store of this homeserver.yaml, instead of --public-key.' },
      },
      examples: [
        'fedpeer event verify --room-version 10 --public-key XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI --key-id ed25519:a_AbCd < signed.json',
        'fedpeer event verify --room-version 10 --config homeserver.yaml < signed.json',
      ],
      run: (ctx) => runEvent('verify', ctx, true),
    },
  ],
};
