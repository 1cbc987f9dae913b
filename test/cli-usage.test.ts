// The command line as a user meets it: help per command, options that do
// not belong to a command, near misses, values missing. Through the built
// binary (dist/cli.js, which `npm test` builds first), since that is what a
// user runs, and in-process for the registry as a whole.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { main } from '../src/cli.js';
import { COMMANDS } from '../src/cli/registry.js';
import type { CommandSpec } from '../src/cli/types.js';
import { closest, editDistance } from '../src/suggest.js';
import { captureIO } from './harness/cli-io.js';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;

function run(args: string[], env: Record<string, string> = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env, FEDPEER_DEBUG: '' }, timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}


/** A usage error: exit 2, nothing on stdout, exactly one line on stderr. */
function usageError(t: Test, args: string[], message: RegExp): void {
  const r = run(args);
  t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
  t.equal(r.out, '', `${args.join(' ')}: nothing on stdout`);
  t.equal(r.err.trimEnd().split('\n').length, 1, `${args.join(' ')}: one line: ${r.err}`);
  t.match(r.err, message);
}

t.test('options that do not belong to a command are errors naming its options', async (t) => {
  usageError(t, ['keygen', '--json'], /^fedpeer keygen: unknown option --json\. keygen takes: --out PATH, --help\. Run "fedpeer keygen --help"/);
  usageError(t, ['canonical-json', '--config', 'x'], /^fedpeer canonical-json: unknown option --config\. canonical-json takes: --help\./);
  usageError(t, ['config', 'check', '--server-name', 'x'], /^fedpeer config check: unknown option --server-name\. config check takes: --json, --config FILE, --help/);
  usageError(t, ['acme', 'renew', '--json'], /acme renew takes: --config FILE, --force, --log-level LEVEL, --help/);
  usageError(t, ['resolve', 'x.test', '-q'], /unknown option -q\. resolve takes:/);
});

t.test('an unknown option or command suggests the closest known one', async (t) => {
  usageError(t, ['serve', '--conf', 'x.yaml'], /^fedpeer serve: unknown option --conf \(did you mean --config\?\)/);
  usageError(t, ['check', 'x.test', '--jsno'], /unknown option --jsno \(did you mean --json\?\)/);
  usageError(t, ['request', '--unsinged', 'a', '/b'], /did you mean --unsigned\?/);
  usageError(t, ['chek', 'x.test'], /^fedpeer chek: unknown command "chek" \(did you mean "check"\?\); fedpeer has: serve, /);
  usageError(t, ['config', 'chekc'], /^fedpeer config: unknown config subcommand "chekc" \(did you mean "check"\?\); config has: check/);
  usageError(t, ['frobnicate'], /unknown command "frobnicate"; fedpeer has/);
});

t.test('missing values, arguments and subcommands', async (t) => {
  usageError(t, ['keygen', '--out'], /^fedpeer keygen: --out needs a value: -o, --out PATH\./);
  usageError(t, ['keygen', '--out', '--json'], /--out needs a value: -o, --out PATH, but is followed by --json \(write --out=--json if that is the value\)/);
  usageError(t, ['keygen', '--out=a', '--out=b'], /--out given twice; it takes one value/);
  usageError(t, ['check', '--json=yes', 'x.test'], /--json takes no value \(got "yes"\)/);
  usageError(t, ['keygen', 'extra'], /^fedpeer keygen: unexpected argument "extra": fedpeer keygen \[options\]/);
  usageError(t, ['check'], /^fedpeer check: check needs a server name: fedpeer check NAME \[options\]/);
  usageError(t, ['request', 'only.test'], /request needs a DESTINATION server name and a PATH/);
  usageError(t, ['acme'], /^fedpeer acme: acme needs a subcommand: fedpeer acme renew\./);
  usageError(t, ['--config', 'x', 'serve'], /^fedpeer: --config: options go after the command/);
  usageError(t, ['serve', '--log-level', 'loud'], /^fedpeer serve: --log-level: unknown log level "loud"; use one of trace, debug, info, warn, error, fatal, silent$/m);
  const env = run(['acme', 'renew', '--config', 'x.yaml'], { FEDPEER_LOG_LEVEL: 'LOUD' });
  t.equal(env.code, 2);
  t.match(env.err, /^fedpeer acme renew: FEDPEER_LOG_LEVEL: unknown log level "LOUD"/);
});

t.test('every command has its own help: fedpeer COMMAND --help and fedpeer help COMMAND', async (t) => {
  const r = run(['check', '--help']);
  t.equal(r.code, 0);
  t.equal(r.err, '');
  t.match(r.out, /^Usage: fedpeer check NAME \[options\]\n/);
  t.match(r.out, /\nOptions:\n {2}--json +Print/);
  t.match(r.out, /-c, --config FILE/);
  t.match(r.out, /--dns-server HOST:PORT \(repeatable\)/);
  t.match(r.out, /\nExamples:\n {2}fedpeer check matrix\.org\n/);
  t.equal(run(['help', 'check']).out, r.out, 'help check prints the same');
  t.equal(run(['check', '-h']).out, r.out, '-h too');
  const sub = run(['help', 'acme', 'renew']);
  t.equal(sub.code, 0);
  t.match(sub.out, /^Usage: fedpeer acme renew \[options\]/);
  t.match(sub.out, /--force/);
  const parent = run(['acme', '--help']);
  t.match(parent.out, /^Usage: fedpeer acme SUBCOMMAND \[options\][^]*Subcommands:\n {2}renew \[--config FILE\]/);
  const overview = run(['--help']);
  t.match(overview.out, /^fedpeer \d+\.\d+\.\d+: /);
  t.match(overview.out, /\n {2}acme renew \[--config FILE\]/, 'subcommands listed on their own lines');
  t.match(overview.out, /\n {2}config check \[FILE\] \[--json\]/);
  usageError(t, ['help', 'nope'], /unknown command "nope"/);
  usageError(t, ['help', 'keygen', 'extra'], /help takes a command name, got "extra"/);
  t.equal(run(['version']).out.trim(), run(['--version']).out.trim());
});

t.test('event and probe: each subcommand takes only its own options', async (t) => {
  usageError(t, ['event', 'id', '--key', 'k', '--room-version', '10'], /^fedpeer event id: unknown option --key\. event id takes: --room-version V, --help\./);
  usageError(t, ['event', 'sign', '--config', 'x.yaml'], /^fedpeer event sign: unknown option --config\. event sign takes: --room-version V, --key FILE, --server-name NAME, --help\./);
  usageError(t, ['event', 'redact', '--room-verison', '11'], /unknown option --room-verison \(did you mean --room-version\?\)/);
  usageError(t, ['event', 'sigh'], /^fedpeer event: unknown event subcommand "sigh" \(did you mean "sign"\?\); event has: sign, id, redact, verify/);
  usageError(t, ['probe', 'hs.test', '--config', 'p.yaml', '--notary', 'x'], /^fedpeer probe: unknown option --notary\. probe takes: --only ID,\.\.\., --room ALIAS_OR_ID, --client-url URL, --access-token TOKEN, --user USER_ID, --json, --tap, --junit FILE, --untrusted-port PORT, --dns-listen ADDRESS\[:PORT\], --config FILE, --dns-server HOST:PORT, --ca-file PEM, --allow-private, --log-level LEVEL, --help\./);
  usageError(t, ['probe', 'hs.test', '--config', 'p.yaml', '--log-level', 'loud'], /^fedpeer probe: --log-level: unknown log level "loud"/);
  usageError(t, ['probe', 'a.test', 'b.test'], /^fedpeer probe: unexpected argument "b\.test": fedpeer probe NAME \[options\]/);
  const verify = run(['event', 'verify', '--help']);
  t.equal(verify.code, 0);
  t.match(verify.out, /^Usage: fedpeer event verify \[options\]\n/);
  t.match(verify.out, /--public-key BASE64[^]*--key-id ed25519:ID[^]*-c, --config FILE +Fetch the keys of every required server[^]*--allow-private/);
  t.match(verify.out, /\nExamples:\n {2}fedpeer event verify --room-version 10 --public-key /);
  const event = run(['event', '--help']);
  t.match(event.out, /^Usage: fedpeer event SUBCOMMAND \[options\][^]*Subcommands:\n {2}sign \[--room-version V\] \[--key FILE\] \[--server-name NAME\]\n[^]*\n {2}id \[--room-version V\]\n[^]*\n {2}redact [^]*\n {2}verify /);
  const probe = run(['help', 'probe']);
  t.equal(probe.code, 0);
  t.match(probe.out, /^Usage: fedpeer probe NAME \[options\]\n/);
  t.match(probe.out, /\nArguments:\n {2}NAME +the server name to probe\n/);
  t.match(probe.out, /--untrusted-port PORT +The untrusted identity.s port \(default 8449, 0 for\s+none\)/);
  t.match(probe.out, /-c, --config FILE +The probe's identity/);
  t.match(probe.out, /--client-url URL +The target's client-server API[^]*--access-token TOKEN +An access token of a user of the target, for\s+--client-url\s+\(or\s+FEDPEER_PROBE_ACCESS_TOKEN/);
  t.match(probe.out, /--room '#probe-room:hs\.test'/);
  // The token may come from the environment (out of ps): with it, the next thing wrong is the URL.
  const fromEnv = run(['probe', 'hs.test', '--config', 'p.yaml', '--client-url', 'ftp://h'], { FEDPEER_PROBE_ACCESS_TOKEN: 'tok' });
  t.equal(fromEnv.code, 2);
  t.match(fromEnv.err, /^fedpeer probe: --client-url: expected an http or https URL, got "ftp:\/\/h"/);
  t.match(probe.out, /\nExamples:\n {2}fedpeer probe hs\.test --config probe\.yaml\n/);
  const overview = run(['--help']);
  t.match(overview.out, /\n {2}probe NAME \[--only ID,\.\.\.\]/);
  t.match(overview.out, /\n {2}event sign \[--room-version V\][^]*\n {2}event verify /);
});

t.test('the registry: every command and subcommand documents itself', async (t) => {
  const all: Array<[CommandSpec, string[]]> = COMMANDS.flatMap((c) => [[c, [c.name]] as [CommandSpec, string[]], ...(c.subcommands ?? []).map((s) => [s, [c.name, s.name]] as [CommandSpec, string[]])]);
  const names = new Set<string>();
  for (const [spec, path] of all) {
    t.notOk(names.has(path.join(' ')), `${path.join(' ')} is listed once`);
    names.add(path.join(' '));
    t.ok(spec.summary.length > 0 && spec.summary.endsWith('.'), `${path.join(' ')}: a one-sentence summary`);
    for (const [name, o] of Object.entries(spec.options ?? {})) {
      t.ok(o.description.length > 0, `${path.join(' ')} --${name} is described`);
      t.equal(o.type === 'string', o.value !== undefined, `${path.join(' ')} --${name}: a value placeholder exactly when it takes a value`);
    }
    const c = captureIO();
    t.equal(await main([...path, '--help'], c.io), 0);
    t.match(c.out(), new RegExp(`^Usage: fedpeer ${path.join(' ')}`));
    if (spec.run) t.ok((spec.examples ?? []).length > 0, `${path.join(' ')} has an example`);
    const h = captureIO();
    t.equal(await main(['help', ...path], h.io), 0);
    t.equal(h.out(), c.out());
  }
  const c = captureIO();
  t.equal(await main(['help'], c.io), 0);
  t.match(c.out(), /Usage: fedpeer COMMAND \[options\]/);
});

t.test('closest: typos and prefixes, nothing for strangers', async (t) => {
  t.equal(closest('conf', ['config', 'keys-dir']), 'config', 'a prefix of exactly one');
  t.equal(closest('jsno', ['json', 'notary']), 'json', 'swapped neighbours are one edit');
  t.equal(closest('ip_range_whitelst', ['ip_range_blacklist', 'ip_range_whitelist']), 'ip_range_whitelist');
  t.equal(closest('verbose', ['json', 'config']), undefined);
  t.equal(closest('c', ['config', 'ca-file']), undefined, 'one letter suggests nothing');
  t.equal(closest('ca', ['config', 'ca-file']), 'ca-file', 'a two-letter prefix of one');
  t.equal(editDistance('kitten', 'sitting'), 3);
  t.equal(editDistance('abc', 'abcdefgh', 2), 3, 'stops past the limit');
  t.equal(editDistance('abcdef', 'uvwxyz', 1), 2, 'stops once every path is past the limit');
});
