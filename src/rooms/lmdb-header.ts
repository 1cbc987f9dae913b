// LMDB trusts its data file: a file that is not one of its own (damaged,
// truncated, another program's) crashes the whole process (SIGSEGV, SIGBUS)
// inside open(), where no exception can be caught. Reading the first meta page
// before lmdb does turns the common cases into an error that names the fix.
// It cannot see damage inside a well-formed file: LMDB pages carry no checksum.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** LMDB's MDB_MAGIC, little-endian on disk. */
const MAGIC = 0xbeefc0de;
/** The smallest page LMDB uses; every page size is a multiple of it. */
const MIN_PAGE = 4096;
/** Where the meta page's magic and format version sit: after the 24-byte page header (LMDB 1.x, as lmdb-js builds it) or the 16-byte one (0.9). */
const LAYOUTS = [
  { magicAt: 24, version: 2 },
  { magicAt: 16, version: 1 },
] as const;

/** Why `dir/data.mdb` is not an LMDB file lmdb can open safely, or undefined (also when there is no file yet). */
export function lmdbFileProblem(dir: string): string | undefined {
  const file = join(dir, 'data.mdb');
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return undefined;
  }
  if (size === 0) return undefined;
  if (size < 2 * MIN_PAGE || size % MIN_PAGE !== 0) return `${file} is ${size} bytes, not whole LMDB pages (truncated or not an LMDB file)`;
  const head = Buffer.alloc(32);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const ok = LAYOUTS.some((l) => head.readUInt32LE(l.magicAt) === MAGIC && head.readUInt32LE(l.magicAt + 4) === l.version);
  return ok ? undefined : `${file} does not start with an LMDB meta page (damaged or not an LMDB file)`;
}
