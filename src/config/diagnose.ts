// Everything wrong with a homeserver.yaml at once, for `fedpeer config
// check` (and, for the typos, `serve` at start-up). parseConfig stops at the
// first bad key; here each bad top-level key is set aside and the file parsed
// again, so every section's first problem is reported in one run.
import { dirname } from 'node:path';
import { closest } from '../suggest.js';
import { ConfigError } from './errors.js';
import { configFileErrors, KNOWN_KEYS, parseConfig, readConfigFile, requireTlsSource } from './load.js';
import { isMap } from './read.js';
import { SYNAPSE_KEYS } from './synapse-keys.js';
import type { Config } from './types.js';

export interface KeyTypo {
  key: string;
  /** The fedpeer key it is probably meant to be. */
  suggestion: string;
}

export interface ConfigDiagnosis {
  /** Absent when the file could not be read or parsed at all, or has errors. */
  config?: Config;
  errors: ConfigError[];
  typos: KeyTypo[];
}

/**
 * Top-level keys that are neither fedpeer's nor Synapse's documented keys
 * but are a typo's distance from one of fedpeer's (`ip_range_whitelst`).
 */
export function likelyTypos(keys: Iterable<string>): KeyTypo[] {
  const typos: KeyTypo[] = [];
  for (const key of keys) {
    if (KNOWN_KEYS.has(key) || SYNAPSE_KEYS.has(key)) continue;
    const suggestion = closest(key, KNOWN_KEYS);
    if (suggestion !== undefined) typos.push({ key, suggestion });
  }
  return typos;
}

/** `ip_range_whitelst: neither ...; did you mean ip_range_whitelist?` */
export function describeTypo(t: KeyTypo): string {
  return `${t.key}: neither a fedpeer nor a Synapse key, so it is ignored; did you mean ${t.suggestion}?`;
}

/** `listeners[1].port` -> `listeners`; `acme.domains[0]` -> `acme`. */
function topLevelKey(key: string): string {
  return /^[^.[]*/.exec(key)![0];
}

// Stands in for a missing or bad server_name so the other keys still get checked.
const PLACEHOLDER_SERVER_NAME = 'config-check.invalid';

export async function diagnoseConfigFile(file: string): Promise<ConfigDiagnosis> {
  let read: { path: string; raw: unknown };
  try {
    read = await readConfigFile(file);
  } catch (e) {
    return { errors: [e as ConfigError], typos: [] };
  }
  const { path, raw } = read;
  if (!isMap(raw)) {
    try {
      parseConfig(raw, { baseDir: dirname(path), path });
    } catch (e) {
      return { errors: [e as ConfigError], typos: [] };
    }
  }
  const map = { ...(raw as Record<string, unknown>) };
  const typos = likelyTypos(Object.keys(map));
  const errors: ConfigError[] = [];
  let config: Config | undefined;
  // Each round removes one top-level key, so this ends within their number.
  for (let round = 0; round <= Object.keys(raw as object).length + 1; round++) {
    try {
      config = parseConfig(map, { baseDir: dirname(path), path });
      break;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      errors.push(e);
      const top = topLevelKey(e.key);
      if (top === 'server_name' && map.server_name !== PLACEHOLDER_SERVER_NAME) map.server_name = PLACEHOLDER_SERVER_NAME;
      else if (top !== '' && top in map) delete map[top];
      else break;
    }
  }
  if (config !== undefined) {
    try {
      requireTlsSource(config);
    } catch (e) {
      errors.push(e as ConfigError);
    }
    errors.push(...(await configFileErrors(config)));
  }
  return { ...(config !== undefined && errors.length === 0 ? { config } : {}), errors, typos };
}
