// Address blocks for the private internet on loopback.
//
// The rule: every test file binds only addresses inside its own /16 of 127.0.0.0/8,
// 127.<b>.x.y, where <b> comes from BLOCKS. Linux answers on the whole /8 without
// any setup, so each file can use the real ports (443, 8448, 53) on its own
// addresses and tap can run files in parallel without a port ever clashing.
//
// One area name = one test file. To add a file, give it a new name with an unused
// second octet in its layer's range below (never reuse or share a number). The
// only shared block is `harness`, whose self-test files split it by third octet:
// harness-dns.test.ts uses 127.2.1.x, harness-https.test.ts 127.2.2.x,
// dev-ca.test.ts 127.2.3.x.
//
// 127.0.x.x and 127.1.x.x are left alone: 127.0.0.1 is everyone's localhost and
// 127.0.0.53 is systemd-resolved's stub on many hosts.
export const BLOCKS = {
  // harness self-tests
  harness: 2,
  // foundation: server app, config, routes
  server: 3,
  'static-answers': 4,
  // TLS endpoint 127.10-19
  tls: 10,
  'tls-reload': 11,
  wellknown: 12,
  acme: 13,
  // outbound 127.20-39
  resolver: 20,
  'wellknown-fetch': 21,
  client: 22,
  'tls-policy': 23,
  'resolve-cli': 24,
  'seed-scenario': 25,
  // keys 127.40-49
  keys: 40,
  notary: 41,
  xmatrix: 42,
  peers: 43,
  // check 127.50-59
  check: 50,
  'check-page': 51,
  // hardening 127.60-69
  limits: 60,
  hostile: 61,
  soak: 62,
  hardening: 63,
  'check-cancel': 64,
  'lean-start': 65,
  'lazy-rooms': 66,
  // bench
  bench: 70,
  // rooms and the room peer 127.80-89
  'events-cli': 80,
  rooms: 81,
  'rooms-peer': 82,
  'rooms-store': 83,
  'rooms-bench': 84,
  'rooms-input': 85,
  'rooms-library': 86,
  'rooms-redact': 87,
  'rooms-attack': 88,
  'rooms-bounds': 89,
  'rooms-backfill': 102,
  // CLI and sandbox 127.90-99
  'cli-errors': 90,
  'serve-dev': 91,
  metrics: 92,
  'tester-api': 93,
  // federation routes and SOCKS 127.100-109
  routes: 100,
  socks: 101,
  // probe 127.110-119
  probe: 110,
  'probe-wrong': 111,
  'probe-units': 112,
  'probe-rooms': 113,
  // control API and its CLI 127.120-129
  'control-api': 120,
  'control-cli': 121,
  // Reserved ranges for the work under way (add names as files appear):
  // rooms and the room peer 127.80-89, CLI and sandbox 127.90-99,
  // federation routes and SOCKS 127.100-109, probe 127.110-119,
  // control API and library 127.120-129; hardening keeps 127.64-69.
} as const satisfies Record<string, number>;

export type Area = keyof typeof BLOCKS;

/** `block('resolver')(1, 2)` is `'127.20.1.2'`. */
export function block(area: Area): (c: number, d: number) => string {
  const b = BLOCKS[area];
  if (b === undefined) throw new Error(`address block: unknown test area ${JSON.stringify(area)}`);
  return (c: number, d: number): string => {
    for (const [label, v] of [['c', c], ['d', d]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 255) {
        throw new Error(`address block ${area}: ${label}=${v} is not an octet (0-255)`);
      }
    }
    return `127.${b}.${c}.${d}`;
  };
}
