// Every `fedpeer` command, in the order `fedpeer --help` lists them. A new
// command is a CommandSpec in src/cli/commands/ and one line here.
import { acme } from './commands/acme.js';
import { check } from './commands/check.js';
import { config } from './commands/config.js';
import { devCert } from './commands/dev-cert.js';
import { event } from './commands/event.js';
import { generateConfig } from './commands/generate-config.js';
import { canonicalJson, signJson, verifyJson } from './commands/json-tools.js';
import { keygen } from './commands/keygen.js';
import { keys } from './commands/keys.js';
import { probe } from './commands/probe.js';
import { request } from './commands/request.js';
import { resolve } from './commands/resolve.js';
import { room } from './commands/room.js';
import { serve } from './commands/serve.js';
import type { CommandSpec } from './types.js';

export const COMMANDS: readonly CommandSpec[] = [
  serve,
  devCert,
  acme,
  keygen,
  generateConfig,
  config,
  resolve,
  check,
  keys,
  request,
  probe,
  canonicalJson,
  signJson,
  verifyJson,
  event,
  room,
];
