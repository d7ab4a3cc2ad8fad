/**
 * Every input's alphabet and size, as the service defines them in `shared/session_rules/limits.py`.
 *
 * Mirrored, not re-decided: the test suite checks each predicate against verdicts the Python
 * rules produce for the same inputs, so the two cannot drift apart unnoticed.
 */

/** A call id travels in URL paths: RFC 3986's unreserved characters, not only dots, no `:`. */
export const MAX_CALL_ID_LENGTH = 128;
export const CALL_ID_RULE = `1-${MAX_CALL_ID_LENGTH} characters of A-Z a-z 0-9 . _ ~ -, not only dots`;
const CALL_ID = /^[A-Za-z0-9._~-]{1,128}$/;
const NOT_ONLY_DOTS = /[^.]/;

export const MAX_FUNCTION_NAME_LENGTH = 64;
export const FUNCTION_NAME_RULE = `1-${MAX_FUNCTION_NAME_LENGTH} characters of A-Z a-z 0-9 _ -`;
const FUNCTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export const MAX_TOKEN_LENGTH = 1024;
export const MAX_METADATA_KEY_LENGTH = 128;
export const MAX_METADATA_BYTES = 64 * 1024;

export const DEFAULT_TOKEN_EXPIRY_SECS = 900;
export const DEFAULT_MAX_TOKEN_LIFETIME_SECS = 24 * 3600;
export const MIN_TOKEN_LIFETIME_SECS = 1;

/** A session's incarnation: the first characters of the 16-hex nonce of every token minted for it. */
export const INCARNATION_LENGTH = 8;
const INCARNATION = /^[0-9a-f]{8}$/;

/**
 * The rotation's key shape (the template's GenerateSecretString and the rotate function: 64 letters
 * and digits). A key of another shape, or under 32 bytes, is never used to mint or check.
 */
export const SIGNING_KEY_RULE = '64 characters of A-Z a-z 0-9';
const SIGNING_KEY = /^[A-Za-z0-9]{64}$/;
export const MIN_SIGNING_KEY_BYTES = 32;

export function isCallId(value: unknown): value is string {
  return typeof value === 'string' && CALL_ID.test(value) && NOT_ONLY_DOTS.test(value);
}

export function isFunctionName(value: unknown): value is string {
  return typeof value === 'string' && FUNCTION_NAME.test(value);
}

/** 1-1024 characters (Python's len counts code points; so does this). */
export function isTokenText(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0) return false;
  if (value.length <= MAX_TOKEN_LENGTH) return codePoints(value) <= MAX_TOKEN_LENGTH;
  return value.length <= 2 * MAX_TOKEN_LENGTH && codePoints(value) <= MAX_TOKEN_LENGTH;
}

export function isIncarnation(value: unknown): value is string {
  return typeof value === 'string' && INCARNATION.test(value);
}

/** An integer of seconds, at least one; the stack's MaxTokenLifetimeSecs bounds it too. */
export function isTokenLifetime(value: unknown, max: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= MIN_TOKEN_LIFETIME_SECS && (value as number) <= max;
}

export function isSigningKey(value: unknown): value is string {
  return typeof value === 'string' && SIGNING_KEY.test(value) && Buffer.byteLength(value) >= MIN_SIGNING_KEY_BYTES;
}

/** A metadata key: 1-128 characters (code points, as the service counts them). */
export function isMetadataKey(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0) return false;
  return codePoints(value) <= MAX_METADATA_KEY_LENGTH;
}

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}
