// The answer of every authorization check. `rule` is a stable identifier a
// caller may log, count or match in tests ('member.join.banned'); `reason`
// is a sentence for people and may change.
export type AuthResult = { ok: true } | { ok: false; rule: string; reason: string };

export const ALLOW: AuthResult = Object.freeze({ ok: true });

export function deny(rule: string, reason: string): AuthResult {
  return { ok: false, rule, reason };
}
