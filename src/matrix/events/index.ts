// matrix/events: the event formats, redaction, hashes, IDs and signatures of
// room versions 1 to 11. Pure: no I/O, nothing of the project outside
// src/matrix.
export * from './room-versions.js';
export * from './types.js';
export { EventFormatError } from './errors.js';
export { parsePdu, parseStoredPdu, MAX_PDU_BYTES, MAX_ID_BYTES, MAX_PREV_EVENTS, MAX_AUTH_EVENTS } from './format.js';
export { redactPdu, redactContent, keptTopLevelKeys } from './redaction.js';
export { computeContentHash, checkContentHash, computeReferenceHash, computeEventId, eventIdFromReferenceHash } from './hashes.js';
export { buildPdu, type EventRef, type EventFields, type BuildOptions } from './build.js';
export { signPdu, requiredSignatures, verifyEventSignatures, type EventKeyLookup, type EventSignatureResult, type RequiredSignature } from './signatures.js';
export { parseEventJson, eventCanonicalJson, jsonNumberValue, pythonFloatRepr, JsonNumberLiteral, EventJsonSyntaxError, MAX_NESTING } from './event-json.js';
