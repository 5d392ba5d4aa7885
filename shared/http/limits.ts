/**
 * Bounds of what the API reads, in one place: the Lambda stack and the local server both
 * enforce them, so a request refused on one is refused on the other.
 */

/** Largest request body, in bytes (API Gateway itself would accept 10 MB). */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Deepest nesting of arrays and objects in a JSON body (the body itself is level 1). DynamoDB
 * stores at most 32 levels in an item and the outbox wraps a published event's `data` in two
 * more (the event list and the envelope), and every recursive step after JSON.parse (zod,
 * marshalling) costs stack: 24 leaves room for both.
 */
export const MAX_JSON_DEPTH = 24;
