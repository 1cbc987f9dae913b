// Collects findings: the same finding (code, explanation and fix) seen at
// several targets becomes one finding that lists them, so three addresses
// of one host with one wrong certificate read as one problem.
import type { Finding, FindingCode, Severity } from './types.js';

export interface FindingInput {
  code: FindingCode;
  severity: Severity;
  title: string;
  explanation: string;
  fix: string | null;
  /** `address:port` this was seen at, if any. */
  target?: string;
}

export interface FindingList {
  add(f: FindingInput): void;
  /** Errors, then warnings, then information; in the order added within each. */
  sorted(): Finding[];
}

const RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

export function findingList(): FindingList {
  const byKey = new Map<string, Finding>();
  return {
    add({ target, ...f }) {
      const key = JSON.stringify([f.code, f.severity, f.explanation, f.fix]);
      const seen = byKey.get(key);
      if (seen) {
        if (target !== undefined && !seen.targets.includes(target)) seen.targets.push(target);
        return;
      }
      byKey.set(key, { ...f, targets: target === undefined ? [] : [target] });
    },
    sorted() {
      // Array.prototype.sort is stable, so insertion order survives within a severity.
      return [...byKey.values()].sort((a, b) => RANK[a.severity] - RANK[b.severity]);
    },
  };
}
