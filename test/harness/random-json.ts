// A seeded generator of JSON values that stress canonical JSON: integer-like
// keys, astral and private-use characters, control characters, empty keys,
// deep arrays, and integers at the edges of the allowed range.
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPECIAL = ['', '"', '\\', '/', '\u007f', '\u2028', '\u2029', '\ufeff', '\ufffd', '\uffff', '\ue000', '\uf8ff', 'é', 'ß', 'Å'];

export function randomJson(rand: () => number) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const int = (n: number) => Math.floor(rand() * n);
  const char = (): string => {
    switch (int(8)) {
      case 0:
        return String.fromCharCode(int(0x20)); // control characters
      case 1:
        return String.fromCodePoint(0x10000 + int(0x10ffff - 0x10000)); // astral
      case 2:
        return String.fromCodePoint(0xe000 + int(0x1900)); // BMP private use
      case 3:
        return String.fromCodePoint(0xf0000 + int(0xfffe)); // supplementary private use
      case 4:
        return pick(SPECIAL);
      case 5: {
        const cp = 0x80 + int(0xd800 - 0x80);
        return String.fromCodePoint(cp);
      }
      default:
        return String.fromCharCode(0x20 + int(0x5f));
    }
  };
  const str = (max = 8): string => Array.from({ length: int(max) }, char).join('');
  const key = (): string => {
    switch (int(5)) {
      case 0:
        return String(int(rand() < 0.5 ? 20 : 100000)); // integer-like keys
      case 1:
        return '';
      case 2:
        return `-${int(10)}`;
      default:
        return str(6);
    }
  };
  const integer = (): number => {
    switch (int(6)) {
      case 0:
        return Number.MAX_SAFE_INTEGER;
      case 1:
        return Number.MIN_SAFE_INTEGER;
      case 2:
        return 0;
      case 3:
        return -int(1000);
      default:
        return Math.floor((rand() - 0.5) * 2 ** (int(53) + 1));
    }
  };
  const value = (depth: number): unknown => {
    const r = int(depth > 5 ? 5 : 9);
    switch (r) {
      case 0:
        return null;
      case 1:
        return rand() < 0.5;
      case 2:
        return integer();
      case 3:
      case 4:
        return str(12);
      case 5:
      case 6: {
        const o: Record<string, unknown> = {};
        for (let i = int(6); i > 0; i--) o[key()] = value(depth + 1);
        return o;
      }
      case 7: {
        // deep arrays
        let a: unknown = value(depth + 3);
        for (let i = int(12); i > 0; i--) a = [a];
        return a;
      }
      default:
        return Array.from({ length: int(5) }, () => value(depth + 1));
    }
  };
  const top = (): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    for (let i = 1 + int(8); i > 0; i--) o[key()] = value(1);
    return o;
  };
  return { value, top };
}
