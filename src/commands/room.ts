// `fedpeer room create|join|send|invite|leave|events`: the room peer of a
// running `fedpeer serve`, driven through its control API (found through
// --config). Each subcommand is one or a few control API calls; output is the
// ID a script needs next, or the timeline.
import { callControl, findControl, type ControlAnswer, type ControlTarget } from '../control/client.js';
import { MAX_WAIT_MS } from '../control/routes.js';
import { UsageError, type CommandIO } from './io.js';

export interface RoomCommandOptions {
  subcommand: RoomSubcommand;
  /** The positional arguments, counted by the command's spec (src/cli/commands/room.ts). */
  args: string[];
  config?: string;
  as?: string;
  alias?: string;
  roomVersion?: string;
  inviteOnly?: boolean;
  via?: string[];
  json?: boolean;
  waitForBody?: string;
  /** Seconds, as given on the command line. */
  timeout?: string;
  now?: () => number;
}

export type RoomSubcommand = 'create' | 'join' | 'send' | 'invite' | 'leave' | 'events';

const PAGE = 100;
const DEFAULT_TIMEOUT_S = 30;

interface EventJson {
  event_id: string;
  type: string;
  sender: string;
  state_key?: string;
  content: Record<string, unknown>;
  origin_server_ts: number;
}

/** One line per event: time, ID, sender, type, state key and what it says. */
export function eventLine(e: EventJson): string {
  const c = e.content;
  const said =
    e.type === 'm.room.message' && typeof c.body === 'string'
      ? JSON.stringify(c.body)
      : e.type === 'm.room.member' && typeof c.membership === 'string'
        ? c.membership
        : JSON.stringify(c).slice(0, 200);
  return `${new Date(e.origin_server_ts).toISOString()} ${e.event_id} ${e.sender} ${e.type}${e.state_key !== undefined ? ` [${e.state_key}]` : ''} ${said}`;
}

export async function roomCommand(io: CommandIO, opts: RoomCommandOptions): Promise<number> {
  const sub = opts.subcommand;
  const seeHelp = `Run "fedpeer room ${sub} --help" for its usage.`;
  if (!opts.config) throw new UsageError(`--config FILE is required: the homeserver.yaml of the running fedpeer serve, whose control listener the command calls. ${seeHelp}`);
  if (sub !== 'events' && !opts.as) throw new UsageError(`--as USER is required: the local user acting (a test_users entry, or its local part). ${seeHelp}`);
  if (opts.timeout !== undefined && opts.waitForBody === undefined) throw new UsageError(`--timeout goes with --wait-for-body TEXT (how long to wait for it). ${seeHelp}`);
  const timeoutS = opts.timeout === undefined ? DEFAULT_TIMEOUT_S : Number(opts.timeout);
  if (!(timeoutS >= 0 && timeoutS <= 86_400)) throw new UsageError(`--timeout: expected seconds from 0 to 86400, got ${JSON.stringify(opts.timeout)}. ${seeHelp}`);
  const [roomArg, extra] = opts.args;

  const target = await findControl(opts.config);
  const call = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const answer = await callControl(target, method, path, body, { configPath: opts.config! });
    return ok(answer, target, opts.config!);
  };
  const room = (id: string) => `/rooms/${encodeURIComponent(id)}`;
  switch (sub) {
    case 'create': {
      const r = await call('POST', '/rooms', {
        as: opts.as,
        ...(opts.alias !== undefined ? { alias: opts.alias } : {}),
        ...(opts.roomVersion !== undefined ? { room_version: opts.roomVersion } : {}),
        ...(opts.inviteOnly ? { join_rule: 'invite' } : {}),
      });
      io.stdout(String(r.room_id));
      return 0;
    }
    case 'join': {
      const r = await call('POST', `${room(roomArg!)}/join`, { as: opts.as, ...(opts.via?.length ? { via: opts.via } : {}) });
      io.stdout(String(r.room_id));
      return 0;
    }
    case 'send':
      io.stdout(String((await call('POST', `${room(roomArg!)}/send`, { as: opts.as, body: extra })).event_id));
      return 0;
    case 'invite':
      io.stdout(String((await call('POST', `${room(roomArg!)}/invite`, { as: opts.as, user_id: extra })).event_id));
      return 0;
    case 'leave':
      io.stdout(String((await call('POST', `${room(roomArg!)}/leave`, { as: opts.as })).event_id));
      return 0;
    case 'events':
      if (opts.waitForBody !== undefined) return waitForBody(io, call, room(roomArg!), roomArg!, opts.waitForBody, timeoutS, opts);
      return printTimeline(io, call, room(roomArg!), opts.json === true);
  }
}

function ok(answer: ControlAnswer, target: ControlTarget, configPath: string): Record<string, unknown> {
  if (answer.status >= 200 && answer.status < 300) return answer.body;
  const { errcode, error } = answer.body as { errcode?: string; error?: string };
  if (answer.status === 401) throw new Error(`the server at ${target.where} refused the control token (${errcode}): it was started with another control_token or data_dir than ${configPath} names; restart it with this config`);
  throw new Error(`${errcode ?? answer.status}: ${error ?? JSON.stringify(answer.body)}`);
}

type Call = (method: string, path: string, body?: unknown) => Promise<Record<string, unknown>>;

async function printTimeline(io: CommandIO, call: Call, path: string, json: boolean): Promise<number> {
  const events: EventJson[] = [];
  for (let from: number | undefined = 0; from !== undefined; ) {
    const page = (await call('GET', `${path}/events?from=${from}&limit=${PAGE}`)) as { events: EventJson[]; next?: number };
    events.push(...page.events);
    from = page.next;
  }
  io.stdout(json ? JSON.stringify(events, null, 2) : events.map(eventLine).join('\n'));
  return 0;
}

/** Long-polls in steps the API allows until the deadline, so any --timeout works. */
async function waitForBody(io: CommandIO, call: Call, path: string, roomId: string, body: string, timeoutS: number, opts: RoomCommandOptions): Promise<number> {
  const now = opts.now ?? Date.now;
  const deadline = now() + timeoutS * 1000;
  do {
    const left = Math.max(0, Math.min(MAX_WAIT_MS, deadline - now()));
    const r = (await call('POST', `${path}/wait`, { match: { body }, timeout_ms: left })) as { event: EventJson | null };
    if (r.event) {
      io.stdout(opts.json ? JSON.stringify(r.event, null, 2) : eventLine(r.event));
      return 0;
    }
  } while (now() < deadline);
  io.stderr(`fedpeer room events: no event with body ${JSON.stringify(body)} in ${roomId} within ${timeoutS} s`);
  return 1;
}
