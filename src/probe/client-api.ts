// The few client-server API calls the room checks make with the access
// token of a user of the target: who the token belongs to, joining the
// probe's room, and what that user's client is shown (an event, a state
// entry). The token is sent only to --client-url and never reported: the
// report shows "Bearer <access token>".
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import { readResponse, type SendResult } from './sender.js';
import type { SentRequest } from './types.js';

export interface ClientApiOptions {
  /** Base URL of the target's client-server API, e.g. http://127.0.0.1:8008 */
  url: string;
  token: string;
  /** The user the token must belong to (--user), when given. */
  user?: string;
  /** CA certificates (PEM) trusted for an https URL. */
  cas?: readonly string[];
  timeoutMs: number;
}

export interface ClientApi {
  readonly url: string;
  /** The user the token must belong to, when the command line named one. */
  readonly user?: string;
  whoami(): Promise<SendResult>;
  /** POST /join/{roomIdOrAlias}?server_name=... */
  join(roomIdOrAlias: string, via: readonly string[]): Promise<SendResult>;
  leave(roomId: string): Promise<SendResult>;
  event(roomId: string, eventId: string): Promise<SendResult>;
  stateEvent(roomId: string, type: string, stateKey: string): Promise<SendResult>;
}

const SHOWN_AUTHORIZATION = 'Bearer <access token>';
const MAX_RESPONSE_BYTES = 1024 * 1024;
const enc = encodeURIComponent;

/** The client API base URL without a trailing slash, or why it is not one. */
export function parseClientUrl(text: string): URL | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `expected an http or https URL such as http://127.0.0.1:8008, got ${JSON.stringify(text)}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `expected an http or https URL, got ${JSON.stringify(text)}`;
  if (url.search !== '' || url.hash !== '') return `expected a base URL without query or fragment, got ${JSON.stringify(text)}`;
  return url;
}

export function createClientApi(opts: ClientApiOptions): ClientApi {
  const base = new URL(opts.url);
  const prefix = base.pathname.replace(/\/+$/, '');
  const secure = base.protocol === 'https:';
  const host = base.hostname.replace(/^\[|\]$/g, '');

  function request(method: string, path: string, body?: unknown): Promise<SendResult> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const sent: SentRequest = { method, path: `${prefix}${path}`, authorization: [SHOWN_AUTHORIZATION] };
    if (payload) {
      sent.body = payload.toString('utf8');
      sent.body_bytes = payload.length;
    }
    const headers: Record<string, string | number> = { authorization: `Bearer ${opts.token}`, accept: 'application/json' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    const options: https.RequestOptions = {
      method,
      host,
      port: base.port === '' ? (secure ? 443 : 80) : Number(base.port),
      path: sent.path,
      headers,
      ...(secure && opts.cas && opts.cas.length > 0 ? { ca: [...opts.cas] } : {}),
      // SNI carries host names only (RFC 6066); an IP address is checked against the certificate all the same.
      ...(secure && isIP(host) === 0 ? { servername: host } : {}),
    };
    return new Promise((resolve) => {
      const done = (r: SendResult) => {
        clearTimeout(timer);
        resolve(r);
      };
      const fail = (why: string) => done({ request: sent, response: { failure: why } });
      const req = (secure ? https : http).request(options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            fail(`answer larger than ${MAX_RESPONSE_BYTES} bytes`);
            req.destroy();
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => done({ request: sent, ...readResponse(res.statusCode ?? 0, Buffer.concat(chunks)) }));
        res.on('error', (e) => fail(e.message));
      });
      // The whole exchange, not each silence: a trickling answer cannot hold the probe either.
      const timer = setTimeout(() => req.destroy(new Error(`no complete answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
      req.on('error', (e) => fail(`${opts.url}: ${e.message}`));
      req.end(payload);
    });
  }

  const v3 = '/_matrix/client/v3';
  return {
    url: opts.url,
    ...(opts.user !== undefined ? { user: opts.user } : {}),
    whoami: () => request('GET', `${v3}/account/whoami`),
    join: (room, via) => request('POST', `${v3}/join/${enc(room)}${via.length > 0 ? `?${via.map((s) => `server_name=${enc(s)}`).join('&')}` : ''}`, {}),
    leave: (roomId) => request('POST', `${v3}/rooms/${enc(roomId)}/leave`, {}),
    event: (roomId, eventId) => request('GET', `${v3}/rooms/${enc(roomId)}/event/${enc(eventId)}`),
    stateEvent: (roomId, type, stateKey) => request('GET', `${v3}/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`),
  };
}
