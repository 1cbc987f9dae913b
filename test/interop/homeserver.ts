// The homeserver side of the interop suite: its client-server API, driven as
// a user, and the environment that says where it is. Generic: any homeserver
// that speaks the Matrix client-server API v3.

export interface InteropEnv {
  hs: { serverName: string; clientUrl: string; caFile?: string };
  users: [{ id: string; token?: string; password?: string }, { id: string; token?: string; password?: string }];
  fedpeer: {
    serverName: string;
    bind: string;
    port: number;
    dataDir?: string;
    caCert?: string;
    caKey?: string;
    caOut?: string;
    dnsServer?: string;
  };
  roomVersions?: string[];
  timeoutMs: number;
}

/** The variables the suite reads; the required ones first. */
export const ENV = {
  FEDPEER_INTEROP_HS_SERVER_NAME: 'server name of the homeserver under test (hs1.test)',
  FEDPEER_INTEROP_HS_CLIENT_URL: 'base URL of its client-server API (http://127.200.0.1:8008)',
  FEDPEER_INTEROP_USER1_ID: 'a user of the homeserver (@user1:hs1.test)',
  FEDPEER_INTEROP_USER1_TOKEN: "that user's access token (or FEDPEER_INTEROP_USER1_PASSWORD)",
  FEDPEER_INTEROP_USER2_ID: 'a second user',
  FEDPEER_INTEROP_USER2_TOKEN: "the second user's access token (or FEDPEER_INTEROP_USER2_PASSWORD)",
  FEDPEER_INTEROP_SERVER_NAME: "fedpeer's server name; the homeserver must resolve it to the bind address and port (fedpeer1.test)",
  FEDPEER_INTEROP_BIND: 'address fedpeer listens on (127.200.0.2)',
  FEDPEER_INTEROP_PORT: 'port fedpeer listens on (default 8448)',
  FEDPEER_INTEROP_HS_CA_FILE: "PEM of the CA of the homeserver's federation certificate (default: the system CAs)",
  FEDPEER_INTEROP_CA_CERT: "PEM of a CA the homeserver trusts, to issue fedpeer's certificate from (with FEDPEER_INTEROP_CA_KEY)",
  FEDPEER_INTEROP_CA_KEY: 'its private key (ECDSA)',
  FEDPEER_INTEROP_CA_OUT: "without FEDPEER_INTEROP_CA_CERT: where to write fedpeer's own CA for the homeserver to trust",
  FEDPEER_INTEROP_DATA_DIR: "fedpeer's data directory, kept between runs (default: a directory under the system temp dir named after the server name)",
  FEDPEER_INTEROP_DNS_SERVER: 'DNS server (host:port) fedpeer resolves the homeserver with (default: the system resolver, /etc/hosts included)',
  FEDPEER_INTEROP_ROOM_VERSIONS: 'room versions to test, comma-separated (default: the stable versions both sides support)',
  FEDPEER_INTEROP_TIMEOUT: 'seconds to wait for an event to cross (default 30)',
} as const;

const REQUIRED = ['FEDPEER_INTEROP_HS_SERVER_NAME', 'FEDPEER_INTEROP_HS_CLIENT_URL', 'FEDPEER_INTEROP_USER1_ID', 'FEDPEER_INTEROP_USER2_ID', 'FEDPEER_INTEROP_SERVER_NAME', 'FEDPEER_INTEROP_BIND'] as const;

/** The environment, or the names of what is missing. */
export function readInteropEnv(env: NodeJS.ProcessEnv): InteropEnv | { missing: string[] } {
  const missing: string[] = REQUIRED.filter((k) => !env[k]);
  for (const n of ['1', '2']) if (!env[`FEDPEER_INTEROP_USER${n}_TOKEN`] && !env[`FEDPEER_INTEROP_USER${n}_PASSWORD`]) missing.push(`FEDPEER_INTEROP_USER${n}_TOKEN`);
  if (missing.length > 0) return { missing };
  const opt = (k: keyof typeof ENV) => env[k] || undefined;
  const user = (n: string) => ({ id: env[`FEDPEER_INTEROP_USER${n}_ID`]!, ...(env[`FEDPEER_INTEROP_USER${n}_TOKEN`] ? { token: env[`FEDPEER_INTEROP_USER${n}_TOKEN`]! } : { password: env[`FEDPEER_INTEROP_USER${n}_PASSWORD`]! }) });
  const fedpeer: InteropEnv['fedpeer'] = { serverName: env.FEDPEER_INTEROP_SERVER_NAME!, bind: env.FEDPEER_INTEROP_BIND!, port: Number(opt('FEDPEER_INTEROP_PORT') ?? 8448) };
  for (const [key, name] of [
    ['dataDir', 'FEDPEER_INTEROP_DATA_DIR'],
    ['caCert', 'FEDPEER_INTEROP_CA_CERT'],
    ['caKey', 'FEDPEER_INTEROP_CA_KEY'],
    ['caOut', 'FEDPEER_INTEROP_CA_OUT'],
    ['dnsServer', 'FEDPEER_INTEROP_DNS_SERVER'],
  ] as const) {
    const value = opt(name);
    if (value !== undefined) fedpeer[key] = value;
  }
  const versions = opt('FEDPEER_INTEROP_ROOM_VERSIONS');
  return {
    hs: { serverName: env.FEDPEER_INTEROP_HS_SERVER_NAME!, clientUrl: env.FEDPEER_INTEROP_HS_CLIENT_URL!.replace(/\/+$/, ''), ...(opt('FEDPEER_INTEROP_HS_CA_FILE') ? { caFile: opt('FEDPEER_INTEROP_HS_CA_FILE')! } : {}) },
    users: [user('1'), user('2')],
    fedpeer,
    ...(versions ? { roomVersions: versions.split(',').map((v) => v.trim()) } : {}),
    timeoutMs: Number(opt('FEDPEER_INTEROP_TIMEOUT') ?? 30) * 1000,
  };
}

export interface ClientEvent {
  event_id: string;
  type: string;
  sender: string;
  state_key?: string;
  content: Record<string, unknown>;
}

export class ClientError extends Error {
  constructor(
    readonly status: number,
    readonly body: { errcode?: string; error?: string },
    what: string,
  ) {
    super(`${what}: ${status} ${body.errcode ?? ''} ${body.error ?? ''}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One user of the homeserver, through its client-server API. */
export interface HsUser {
  readonly id: string;
  call(method: string, path: string, body?: unknown): Promise<Record<string, any>>;
  createRoom(body: Record<string, unknown>): Promise<string>;
  join(roomIdOrAlias: string, servers?: string[]): Promise<string>;
  send(roomId: string, body: string): Promise<string>;
  sendState(roomId: string, type: string, stateKey: string, content: Record<string, unknown>): Promise<string>;
  state(roomId: string, type: string, stateKey?: string): Promise<Record<string, any> | undefined>;
  invite(roomId: string, userId: string): Promise<void>;
  leave(roomId: string): Promise<void>;
  ban(roomId: string, userId: string): Promise<void>;
  /** The first event of the room (newest first, as far back as 500 events) the predicate accepts, polling until `timeoutMs`. */
  waitFor(roomId: string, predicate: (e: ClientEvent) => boolean, timeoutMs: number): Promise<ClientEvent>;
  /** Polls until the state event is there (and the predicate accepts its content). */
  waitForState(roomId: string, type: string, stateKey: string, predicate: (content: Record<string, any>) => boolean, timeoutMs: number): Promise<Record<string, any>>;
  /** Resolves once /sync shows an invite to the room. */
  waitForInvite(roomId: string, timeoutMs: number): Promise<void>;
}

export async function hsUser(clientUrl: string, user: InteropEnv['users'][number]): Promise<HsUser> {
  let token = user.token;
  let txn = 0;
  const enc = encodeURIComponent;
  async function call(method: string, path: string, body?: unknown): Promise<Record<string, any>> {
    const r = await fetch(`${clientUrl}/_matrix/client/v3${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(90_000),
    });
    const answer = (await r.json().catch(() => ({}))) as Record<string, any>;
    if (!r.ok) throw new ClientError(r.status, answer, `${method} ${path.split('?')[0]}`);
    return answer;
  }
  if (!token) {
    const login = await call('POST', '/login', { type: 'm.login.password', identifier: { type: 'm.id.user', user: user.id }, password: user.password });
    token = login.access_token as string;
  }
  const self: HsUser = {
    id: user.id,
    call,
    createRoom: async (body) => (await call('POST', '/createRoom', body)).room_id,
    join: async (room, servers = []) => (await call('POST', `/join/${enc(room)}${servers.length ? `?${servers.map((s) => `server_name=${enc(s)}`).join('&')}` : ''}`, {})).room_id,
    send: async (roomId, body) => (await call('PUT', `/rooms/${enc(roomId)}/send/m.room.message/fedpeer-interop-${Date.now()}-${txn++}`, { msgtype: 'm.text', body })).event_id,
    sendState: async (roomId, type, stateKey, content) => (await call('PUT', `/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`, content)).event_id,
    async state(roomId, type, stateKey = '') {
      try {
        return await call('GET', `/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`);
      } catch (e) {
        if (e instanceof ClientError && e.status === 404) return undefined;
        throw e;
      }
    },
    invite: async (roomId, userId) => void (await call('POST', `/rooms/${enc(roomId)}/invite`, { user_id: userId })),
    leave: async (roomId) => void (await call('POST', `/rooms/${enc(roomId)}/leave`, {})),
    ban: async (roomId, userId) => void (await call('POST', `/rooms/${enc(roomId)}/ban`, { user_id: userId, reason: 'interop' })),
    async waitFor(roomId, predicate, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        let from: string | undefined;
        for (let page = 0; page < 5; page++) {
          const r = await call('GET', `/rooms/${enc(roomId)}/messages?dir=b&limit=100${from ? `&from=${enc(from)}` : ''}`);
          const found = (r.chunk as ClientEvent[]).find(predicate);
          if (found) return found;
          if (!r.end || (r.chunk as unknown[]).length === 0) break;
          from = r.end as string;
        }
        if (Date.now() > deadline) throw new Error(`${user.id} did not see the event in ${roomId} within ${timeoutMs} ms`);
        await sleep(250);
      }
    },
    async waitForState(roomId, type, stateKey, predicate, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const content = await self.state(roomId, type, stateKey).catch((e) => {
          // Not (yet) in the room: the state is not visible to the user.
          if (e instanceof ClientError && e.status === 403) return undefined;
          throw e;
        });
        if (content && predicate(content)) return content;
        if (Date.now() > deadline) throw new Error(`${user.id} did not see ${type} [${stateKey}] in ${roomId} within ${timeoutMs} ms (now ${JSON.stringify(content)})`);
        await sleep(250);
      }
    },
    async waitForInvite(roomId, timeoutMs) {
      // Incremental syncs: Synapse answers a repeated identical /sync (an initial one) from a cache for a while.
      const filter = enc(JSON.stringify({ room: { timeline: { limit: 1 } }, presence: { types: [] }, account_data: { types: [] } }));
      const deadline = Date.now() + timeoutMs;
      let since: string | undefined;
      for (;;) {
        const r = await call('GET', `/sync?timeout=${since ? 1000 : 0}&filter=${filter}${since ? `&since=${enc(since)}` : ''}`);
        if (roomId in ((r.rooms?.invite ?? {}) as Record<string, unknown>)) return;
        if (Date.now() > deadline) throw new Error(`${user.id} saw no invite to ${roomId} within ${timeoutMs} ms`);
        since = r.next_batch as string;
      }
    },
  };
  return self;
}
