// Identity and listeners: the keys Synapse's ServerConfig reads, in the
// shapes Synapse accepts them.
import { DEFAULT_BIND_ADDRESSES } from './defaults.js';
import { ConfigError, describeValue } from './errors.js';
import { serverName } from './names.js';
import {
  type RawMap,
  bool,
  field,
  indexOf,
  int,
  keyOf,
  list,
  map,
  opt,
  path,
  port,
  str,
  strList,
} from './read.js';
import type { Config, ListenerConfig, ResourceConfig } from './types.js';

export const SERVER_KEYS = [
  'server_name',
  'listeners',
  'public_baseurl',
  'serve_server_wellknown',
  'pid_file',
  'control_token',
] as const;

type ServerPart = Pick<Config, 'serverName' | 'listeners' | 'publicBaseurl' | 'serveServerWellknown' | 'pidFile' | 'controlToken'>;

export function parseServer(raw: RawMap, baseDir: string): ServerPart {
  const name = field(raw, 'server_name');
  if (name === undefined) {
    throw new ConfigError('server_name', 'required: the name other servers know this one by, e.g. "example.org"');
  }
  return {
    serverName: serverName(name, 'server_name'),
    listeners: opt(raw, '', 'listeners', (v, k) => list(v, k).map((l, i) => listener(l, indexOf(k, i), baseDir)), []),
    publicBaseurl: opt(raw, '', 'public_baseurl', baseUrl, undefined),
    serveServerWellknown: opt(raw, '', 'serve_server_wellknown', bool, false),
    pidFile: opt(raw, '', 'pid_file', (v, k) => path(v, k, baseDir), undefined),
    controlToken: opt(raw, '', 'control_token', controlToken, undefined),
  };
}

// The bearer token of `type: control` listeners: sent in a header, so
// visible ASCII only, and long enough not to be guessed.
function controlToken(value: unknown, key: string): string {
  const s = str(value, key);
  if (!/^[\x21-\x7e]{16,}$/.test(s)) throw new ConfigError(key, 'expected at least 16 visible ASCII characters (no spaces); or leave it out and fedpeer generates one under data_dir');
  return s;
}

// Same rules as Synapse: http(s) only, no query or fragment, trailing slash added.
function baseUrl(value: unknown, key: string): string {
  const s = str(value, key);
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new ConfigError(key, `expected an http or https URL, got ${describeValue(s)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(key, `expected an http or https URL, got ${describeValue(s)}`);
  }
  if (url.search || url.hash) {
    throw new ConfigError(key, 'must not contain a query string or #fragment');
  }
  return s.endsWith('/') ? s : `${s}/`;
}

// Unknown listener keys (tag, additional_resources, request_id_header, ...)
// are Synapse's business and are passed over, not rejected.
function listener(value: unknown, key: string, baseDir: string): ListenerConfig {
  const l = map(value, key);
  const portValue = field(l, 'port');
  const socketPath = field(l, 'path');
  if (portValue !== undefined && socketPath !== undefined) {
    throw new ConfigError(key, 'has both "port" and "path"; a listener is either a TCP port or a Unix socket');
  }
  if (portValue === undefined && socketPath === undefined) {
    throw new ConfigError(keyOf(key, 'port'), 'required (or "path" for a Unix socket listener)');
  }
  const type = opt(l, key, 'type', str, 'http');
  const common = {
    type,
    // Synapse defaults x_forwarded on for Unix sockets: behind a proxy is the only way to reach one.
    xForwarded: opt(l, key, 'x_forwarded', bool, socketPath !== undefined),
    resources: opt(l, key, 'resources', (v, k) => list(v, k).map((r, i) => resource(r, indexOf(k, i))), []),
  };
  if (socketPath !== undefined) {
    return {
      kind: 'unix',
      path: path(socketPath, keyOf(key, 'path'), baseDir),
      mode: opt(l, key, 'mode', (v, k) => int(v, k, 0, 0o777), 0o666),
      tls: false,
      ...common,
    };
  }
  const bindAddresses = opt(l, key, 'bind_addresses', strList, [] as string[]);
  // Synapse's older singular form; it adds to the list rather than replacing it.
  const single = opt(l, key, 'bind_address', str, undefined);
  if (single !== undefined) bindAddresses.push(single);
  if (bindAddresses.length === 0) {
    // As in Synapse: its metrics listener cannot do IPv6. The control API
    // drives the peer, so it stays on loopback unless told otherwise.
    bindAddresses.push(...(type === 'metrics' ? ['0.0.0.0'] : type === 'control' ? ['127.0.0.1'] : DEFAULT_BIND_ADDRESSES));
  }
  return {
    kind: 'tcp',
    port: port(portValue, keyOf(key, 'port')),
    bindAddresses,
    tls: opt(l, key, 'tls', bool, false),
    ...common,
  };
}

function resource(value: unknown, key: string): ResourceConfig {
  const r = map(value, key);
  return {
    names: opt(r, key, 'names', strList, []),
    compress: opt(r, key, 'compress', bool, false),
  };
}
