// Authorization rules, auth event selection and state resolution of room
// versions 1 to 11. Pure: no I/O, nothing of the project outside src/matrix/.
export { type AuthResult } from './result.js';
export { authEventSlots, authStateOf, checkAuthEventsList, type AuthEventsListOptions } from './selection.js';
export { checkEventAuth } from './rules.js';
export { resolveState, type ResolveOptions } from './resolve.js';
export { MissingEventError, type EventLookup } from './event-source.js';
export { userPowerLevel, namedPowerLevel, requiredPowerLevel, roomCreator, parseLevel, type NamedLevel } from './power-levels.js';
export { membershipOf } from './membership.js';
export { MAX_THIRD_PARTY_SIGNATURE_CHECKS } from './third-party-invite.js';
