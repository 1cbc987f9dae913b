// Every check the probe knows, in the order they run and are reported, and
// the selection --only makes. A new group is one more array here.
import type { CheckDefinition } from './context.js';
import { identityChecks } from './checks/identity.js';
import { authChecks } from './checks/auth.js';
import { errorChecks } from './checks/errors.js';
import { outboundChecks } from './checks/outbound.js';
import { roomChecks } from './checks/rooms.js';
import { GROUP_ORDER } from './types.js';

export const ALL_CHECKS: readonly CheckDefinition[] = [...identityChecks, ...authChecks, ...errorChecks, ...outboundChecks, ...roomChecks];

export class UnknownCheckError extends Error {
  constructor(readonly unknown: string[]) {
    super(`unknown check id(s) ${unknown.map((u) => JSON.stringify(u)).join(', ')}; known groups: ${GROUP_ORDER.join(', ')}; ids: ${ALL_CHECKS.map((c) => c.id).join(', ')}`);
    this.name = 'UnknownCheckError';
  }
}

/** The checks named by `only` (ids or group names), in run order; all of them without it. */
export function selectChecks(only?: readonly string[]): CheckDefinition[] {
  if (!only || only.length === 0) return [...ALL_CHECKS];
  const wanted = new Set(only.map((s) => s.trim()).filter(Boolean));
  const unknown = [...wanted].filter((w) => !ALL_CHECKS.some((c) => c.id === w || c.group === w));
  if (unknown.length > 0) throw new UnknownCheckError(unknown);
  return ALL_CHECKS.filter((c) => wanted.has(c.id) || wanted.has(c.group));
}
