// A client of a running server's control API, found through its config: the
// first `type: control` listener gives the address, control_token (or the
// token file under data_dir) the token. Used by `fedpeer room`; every failure
// is one line naming the cause and the fix.
import * as http from 'node:http';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { CONTROL_PREFIX } from './routes.js';
import { controlTokenPath, readControlToken } from './token.js';

export interface ControlTarget {
  /** `host:port`, or the socket path, for messages. */
  where: string;
  connect: { host: string; port: number } | { socketPath: string };
  token: string;
}

export interface ControlAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** Answers larger than this are refused (a page of 100 events of 64 KiB fits). */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

/** A wildcard bind address is reached through the loopback address of its family. */
function dialled(address: string): string {
  if (address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '::1';
  return address;
}

export function controlTarget(config: Config, token: string): ControlTarget | undefined {
  const listener = config.listeners.find((l) => l.type === 'control');
  if (!listener) return undefined;
  if (listener.kind === 'unix') return { where: listener.path, connect: { socketPath: listener.path }, token };
  const host = dialled(listener.bindAddresses[0]!);
  return { where: `${host.includes(':') ? `[${host}]` : host}:${listener.port}`, connect: { host, port: listener.port }, token };
}

/** The control API of the server `configPath` describes. */
export async function findControl(configPath: string): Promise<ControlTarget> {
  let config: Config;
  try {
    config = await loadConfig(configPath, { checkFiles: false });
  } catch (e) {
    throw new Error(`cannot use ${configPath}: ${(e as Error).message}`);
  }
  const listener = config.listeners.find((l) => l.type === 'control');
  if (!listener) throw new Error(`no control listener in ${configPath}: add \`- {type: control, port: 8009}\` to listeners (docs/CONTROL.md) and restart fedpeer serve`);
  if (listener.tls) throw new Error(`the control listener in ${configPath} has tls: true, and fedpeer room speaks plain HTTP: set tls: false (it binds loopback unless bind_addresses says otherwise)`);
  const token = await readControlToken(config);
  if (token === undefined) throw new Error(`no control token yet (${controlTokenPath(config.dataDir)}): start the server once with fedpeer serve --config ${configPath}, or set control_token in the config`);
  return controlTarget(config, token)!;
}

/** One request to the control API; the answer whatever its status (failures to connect throw with the fix). */
export function callControl(target: ControlTarget, method: string, path: string, body?: unknown, opts: { configPath?: string } = {}): Promise<ControlAnswer> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        ...target.connect,
        method,
        path: `${CONTROL_PREFIX}${path}`,
        headers: { authorization: `Bearer ${target.token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`the control API at ${target.where} answered more than ${MAX_ANSWER_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            reject(new Error(`${target.where} is not a fedpeer control API (answered ${res.statusCode} without JSON): check the control listener in the config`));
            return;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as Record<string, unknown> });
        });
        res.on('error', reject);
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => {
      const start = `start it with fedpeer serve --config ${opts.configPath ?? 'FILE'}`;
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') reject(new Error(`the server is not running at ${target.where}: ${start}`));
      else reject(new Error(`cannot reach the control API at ${target.where}: ${e.code ?? e.message}`));
    });
    req.end(payload);
  });
}
