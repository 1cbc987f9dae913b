// homeserver.yaml -> Config. `parseConfig` is pure; `loadConfig` adds the
// file reading and the checks that need the filesystem.
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { EMBEDDED_DEFAULTS } from './defaults.js';
import { ConfigError } from './errors.js';
import { FEDERATION_KEYS, parseFederation } from './parse-federation.js';
import { KEY_KEYS, parseKeys } from './parse-keys.js';
import { LIMIT_KEYS, parseLimits } from './parse-limits.js';
import { SERVER_KEYS, parseServer } from './parse-server.js';
import { TLS_KEYS, parseTls } from './parse-tls.js';
import { indexOf, isMap, keyOf } from './read.js';
import type { Config } from './types.js';

/** Every top-level key fedpeer reads; anything else lands in `ignoredKeys`. */
export const KNOWN_KEYS: ReadonlySet<string> = new Set<string>([
  ...SERVER_KEYS,
  ...TLS_KEYS,
  ...FEDERATION_KEYS,
  ...KEY_KEYS,
  ...LIMIT_KEYS,
]);

export interface ParseOptions {
  /** Directory relative paths resolve against: the config file's. */
  baseDir: string;
  /** The config file, for `Config.sourcePath` and messages. */
  path?: string;
}

export function parseConfig(raw: unknown, opts: ParseOptions): Config {
  if (!isMap(raw)) {
    const where = opts.path ? `${opts.path}: ` : '';
    throw new ConfigError('', `${where}expected a YAML mapping of keys such as "server_name: example.org" at the top level`);
  }
  const baseDir = resolve(opts.baseDir);
  const server = parseServer(raw, baseDir);
  const config: Config = {
    baseDir,
    ignoredKeys: Object.keys(raw).filter((k) => !KNOWN_KEYS.has(k)),
    ...server,
    ...parseKeys(raw, baseDir, server.serverName),
    ...parseTls(raw, baseDir),
    ...parseFederation(raw, baseDir),
    ...parseLimits(raw),
  };
  if (opts.path !== undefined) config.sourcePath = resolve(opts.path);
  hideSecret(config);
  return config;
}

// Non-enumerable, so that logging or JSON-dumping the config cannot leak the
// seed or the control token; reading `config.signingKey` still works.
function hideSecret(config: Config): void {
  for (const key of ['signingKey', 'controlToken'] as const) {
    const value = config[key];
    delete config[key];
    if (value !== undefined) Object.defineProperty(config, key, { value, enumerable: false, writable: false });
  }
}

/**
 * A TLS listener needs a certificate from somewhere. Synapse insists on
 * tls_certificate_path; fedpeer also takes tls_certificates or ACME.
 * Kept out of parseConfig so the CLI can build a config first and supply the
 * certificate after (the embedded default's dev certificate).
 */
export function requireTlsSource(config: Config): void {
  const i = config.listeners.findIndex((l) => l.kind === 'tcp' && l.tls);
  if (i < 0) return;
  if (config.tlsCertificatePath || config.tlsCertificates.length > 0 || config.acme.enabled) return;
  throw new ConfigError(
    'tls_certificate_path',
    `required because ${indexOf('listeners', i)} has "tls: true" (or list tls_certificates, or set acme.enabled)`,
  );
}

/** [key path, absolute path] of every file the config says must already exist. */
export function requiredFiles(config: Config): Array<[string, string]> {
  const files: Array<[string, string]> = [];
  if (config.signingKey === undefined) files.push(['signing_key_path', config.signingKeyPath]);
  if (config.tlsCertificatePath) files.push(['tls_certificate_path', config.tlsCertificatePath]);
  if (config.tlsPrivateKeyPath) files.push(['tls_private_key_path', config.tlsPrivateKeyPath]);
  config.tlsCertificates.forEach((c, i) => {
    files.push([keyOf(indexOf('tls_certificates', i), 'certificate_path'), c.certificatePath]);
    files.push([keyOf(indexOf('tls_certificates', i), 'private_key_path'), c.privateKeyPath]);
  });
  config.federationCustomCaList.forEach((f, i) => files.push([indexOf('federation_custom_ca_list', i), f]));
  if (config.acme.caCertificatePath) files.push(['acme.ca_certificate_path', config.acme.caCertificatePath]);
  return files;
}

/** Directories that must exist; storage_dir and data_dir are created on use instead. */
function requiredDirs(config: Config): Array<[string, string]> {
  const dirs: Array<[string, string]> = [];
  if (config.wellKnownDir) dirs.push(['well_known_dir', config.wellKnownDir]);
  if (config.acme.webroot) dirs.push(['acme.webroot', config.acme.webroot]);
  return dirs;
}

async function checkPath(key: string, p: string, want: 'file' | 'directory'): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(p)).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ConfigError(key, `${want} not found: ${p}`);
    throw new ConfigError(key, `cannot access ${p}: ${code ?? String(e)}`, { cause: e });
  }
  if (isDir !== (want === 'directory')) {
    throw new ConfigError(key, `expected a ${want}, found a ${isDir ? 'directory' : 'file'}: ${p}`);
  }
  try {
    await access(p, constants.R_OK);
  } catch (e) {
    throw new ConfigError(key, `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}

/** Fails on the first missing or unreadable file, naming its key. */
export async function checkConfigFiles(config: Config): Promise<void> {
  const [first] = await configFileErrors(config, 1);
  if (first) throw first;
}

/** Every missing or unreadable file and directory (up to `max`), each naming its key. */
export async function configFileErrors(config: Config, max = Infinity): Promise<ConfigError[]> {
  const errors: ConfigError[] = [];
  const wanted = [...requiredFiles(config).map(([k, p]) => [k, p, 'file'] as const), ...requiredDirs(config).map(([k, p]) => [k, p, 'directory'] as const)];
  for (const [key, p, want] of wanted) {
    if (errors.length >= max) break;
    await checkPath(key, p, want).catch((e: ConfigError) => errors.push(e));
  }
  return errors;
}

export interface LoadOptions {
  /**
   * Check that the files the config names exist (default true). `fedpeer
   * keygen` turns this off: it is about to create the signing key.
   */
  checkFiles?: boolean;
}

/** The file's YAML as PyYAML would read it, with errors naming the file. */
export async function readConfigFile(file: string): Promise<{ path: string; raw: unknown }> {
  const abs = resolve(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'config file not found' : `cannot read config file (${code ?? String(e)})`;
    throw new ConfigError('', `${why}: ${abs}`, { cause: e });
  }
  let raw: unknown;
  try {
    // YAML 1.1 is what Synapse's PyYAML reads: `yes`/`no` are booleans and
    // `0600` is octal. Repeated keys are allowed, the last one winning, as there.
    raw = parseYaml(text, { version: '1.1', uniqueKeys: false });
  } catch (e) {
    throw new ConfigError('', `${abs}: invalid YAML: ${(e as Error).message}`, { cause: e });
  }
  return { path: abs, raw };
}

export async function loadConfig(file: string, opts: LoadOptions = {}): Promise<Config> {
  const { path: abs, raw } = await readConfigFile(file);
  const config = parseConfig(raw, { baseDir: dirname(abs), path: abs });
  requireTlsSource(config);
  if (opts.checkFiles !== false) await checkConfigFiles(config);
  return config;
}

export interface DefaultConfigOptions {
  baseDir: string;
  serverName?: string;
  signingKeyPath?: string;
  /** Further top-level homeserver.yaml keys (snake_case), replacing the embedded ones. */
  raw?: Record<string, unknown>;
}

/**
 * The config fedpeer runs with when given no file: EMBEDDED_DEFAULTS with
 * the given keys replaced, through the same validation as a file.
 */
export function defaultConfig(opts: DefaultConfigOptions): Config {
  const raw: Record<string, unknown> = { ...structuredClone(EMBEDDED_DEFAULTS), ...opts.raw };
  if (opts.serverName !== undefined) raw.server_name = opts.serverName;
  if (opts.signingKeyPath !== undefined) raw.signing_key_path = opts.signingKeyPath;
  return parseConfig(raw, { baseDir: opts.baseDir });
}
