/**
 * SWAIG function tokens in the SignalWire SDKs' wire format, parsed exactly as the service parses
 * them (`shared/session_rules/tokens.py`). Pure: no I/O.
 *
 *     token     = base64url("{call_id}.{function}.{expiry}.{nonce}.{signature}")
 *     signature = hex(HMAC-SHA256(key as UTF-8, "{call_id}:{function}:{expiry}:{nonce}"))
 *
 * Minted padded, as the service and the Python SDK mint (the Python SDK cannot read an unpadded
 * token whose length is not a multiple of 4; the TypeScript SDK reads both). Parsed strictly:
 * canonical base64url only, each field in the shape the SDKs and the service mint, so no signed
 * message can be re-cut into a token for another call, function or expiry.
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

import * as limits from './limits.js';

/** Hex characters of the nonce this client mints: the call's incarnation, then random hex. */
export const NONCE_LENGTH = 16;

export const MALFORMED = 'malformed';
export const FUNCTION_MISMATCH = 'function_mismatch';
export const EXPIRED = 'expired';
export const LIFETIME_EXCEEDED = 'lifetime_exceeded';
export const BAD_SIGNATURE = 'bad_signature';
export const CALL_ID_MISMATCH = 'call_id_mismatch';
export const SESSION_ENDED = 'session_ended';

/** Whether a token is valid, and why not: one of the service's reasons, or a request's 400 code. */
export interface TokenCheck {
  readonly valid: boolean;
  readonly reason: string | null;
}

export const VALID: TokenCheck = Object.freeze({ valid: true, reason: null });

export function refused(reason: string): TokenCheck {
  return { valid: false, reason };
}

export interface TokenFields {
  readonly callId: string;
  readonly function: string;
  readonly expiry: string;
  readonly nonce: string;
  readonly signature: string;
}

// The whole decoded text, each field in its one shape: the call id (no ':'; its dots are
// unambiguous since no other field has one; matched lazily, as most have none), the function name,
// a canonical decimal expiry, a nonce of 16 (Python SDK, the service, this client) or 32 (TypeScript
// SDK) lowercase hex characters, a 64-hex signature.
const TOKEN =
  /^([A-Za-z0-9._~-]{1,128}?)\.([A-Za-z0-9_-]{1,64})\.(0|[1-9][0-9]{0,15})\.([0-9a-f]{16}|[0-9a-f]{32})\.([0-9a-f]{64})$/;
const BASE64URL = /^([A-Za-z0-9_-]*)(={0,2})$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The code the service's 400 would carry for these inputs (its verdict on them), or null when acceptable. */
export function inputError(callId: unknown, fn: unknown, token: unknown): string | null {
  // A lone surrogate travels as a JSON escape, and the service refuses such a body whole.
  if ([callId, fn, token].some((value) => typeof value === 'string' && !wellFormed(value))) return 'invalid_json';
  if (!limits.isCallId(callId)) return 'invalid_call_id';
  if (!limits.isFunctionName(fn)) return 'invalid_function';
  if (!limits.isTokenText(token)) return 'invalid_token';
  return null;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whole Unicode: no lone surrogate (which no UTF-8 writer can encode). */
export function wellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

export function sign(key: string, callId: string, fn: string, expiry: string, nonce: string): string {
  return createHmac('sha256', key).update(`${callId}:${fn}:${expiry}:${nonce}`).digest('hex');
}

/** A fresh incarnation: 8 lowercase hex characters, picked per call by the client holding the key. */
export function newIncarnation(): string {
  return randomBytes(limits.INCARNATION_LENGTH / 2).toString('hex');
}

/** A 16-hex nonce: `prefix` (lowercase hex, the call's incarnation) followed by random hex. */
export function newNonce(prefix = ''): string {
  return prefix + randomBytes((NONCE_LENGTH - prefix.length) / 2).toString('hex');
}

/** A token as the service and the Python SDK mint it: padded base64url. */
export function mint(key: string, callId: string, fn: string, expiry: number, nonce: string = newNonce()): string {
  const expiryText = String(expiry);
  const raw = `${callId}.${fn}.${expiryText}.${nonce}.${sign(key, callId, fn, expiryText, nonce)}`;
  const encoded = Buffer.from(raw, 'utf8').toString('base64url');
  return encoded + '='.repeat(-encoded.length & 3);
}

/**
 * The bytes a token encodes, or null unless it is canonical base64url, padded or not: only the
 * alphabet, padding absent or exact, no second spelling of the same bytes (a last character
 * whose unused low bits are set).
 */
function raw(token: unknown): Buffer | null {
  if (!limits.isTokenText(token)) return null;
  const found = BASE64URL.exec(token);
  if (found === null) return null;
  const body = found[1] ?? '';
  const padding = (found[2] ?? '').length;
  const pad = -body.length & 3;
  if (pad === 3 || (padding !== 0 && padding !== pad)) return null;
  if (pad !== 0 && ALPHABET.indexOf(body.charAt(body.length - 1)) & (pad === 2 ? 0x0f : 0x03)) return null;
  return Buffer.from(body, 'base64url');
}

function asciiText(bytes: Buffer): string | null {
  for (const byte of bytes) if (byte > 0x7f) return null;
  return bytes.toString('latin1');
}

/** A token's fields when each has the shape the SDKs and the service mint, else null. */
export function parse(token: unknown): TokenFields | null {
  const bytes = raw(token);
  if (bytes === null) return null;
  const text = asciiText(bytes);
  if (text === null) return null;
  const found = TOKEN.exec(text);
  if (found === null) return null;
  const [, callId = '', fn = '', expiry = '', nonce = '', signature = ''] = found;
  if (!/[^.]/.test(callId)) return null; // a call id of dots alone is no call id
  return { callId, function: fn, expiry, nonce, signature };
}

/**
 * The service's check: the SDK's order of reasons, plus `lifetime_exceeded` for an expiry more
 * than `maxLifetime` seconds ahead (nothing the SDKs or the service mint lives that long).
 * `keys` are tried in order until one matches. Never throws.
 */
export function verify(
  keys: Iterable<string>,
  callId: string,
  fn: string,
  token: unknown,
  nowSecs: number,
  maxLifetime: number = limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS,
): TokenCheck {
  const fields = parse(token);
  if (fields === null) return refused(MALFORMED);
  if (!callId) return refused(CALL_ID_MISMATCH);
  if (fields.function !== fn) return refused(FUNCTION_MISMATCH);
  const expiry = Number(fields.expiry);
  if (expiry < nowSecs) return refused(EXPIRED);
  if (expiry > nowSecs + maxLifetime) return refused(LIFETIME_EXCEEDED);
  const presented = Buffer.from(fields.signature, 'latin1');
  let matched = false;
  for (const key of keys) {
    const expected = Buffer.from(sign(key, fields.callId, fields.function, fields.expiry, fields.nonce), 'latin1');
    if (timingSafeEqual(presented, expected)) {
      matched = true;
      break;
    }
  }
  if (!matched) return refused(BAD_SIGNATURE);
  if (fields.callId !== callId) return refused(CALL_ID_MISMATCH);
  return VALID;
}

/** The TypeScript SDK's `DebugTokenResult`. */
export interface DebugTokenResult {
  valid_format: boolean;
  components?: {
    call_id: string;
    function: string;
    expiry: string;
    expiry_date: string | null;
    nonce: string;
    signature: string;
  };
  status?: {
    current_time: number;
    is_expired: boolean | null;
    expires_in_seconds: number | null;
  };
  parts_count?: number;
  token_length?: number;
  error?: string;
}

export const DEBUG_DISABLED = 'debug mode not enabled';

function shorten(value: string): string {
  return value.length > 8 ? value.slice(0, 8) + '...' : value;
}

/**
 * The SDK's debug view of a token: split from the right as the service splits it (a call id may hold
 * dots), in the TypeScript SDK's shape. Never checks the signature, never throws.
 */
export function debug(token: unknown, nowSecs: number): DebugTokenResult {
  const length = typeof token === 'string' ? token.length : 0;
  const bytes = raw(token);
  let text: string | null = null;
  if (bytes !== null) {
    text = bytes.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(bytes)) text = null; // not UTF-8
  }
  if (text === null) {
    if (typeof token === 'string' && token.length <= limits.MAX_TOKEN_LENGTH) {
      const loose = Buffer.from(token, 'base64url').toString('utf8');
      const count = splitRight(loose).length;
      if (/^[A-Za-z0-9_-]+=*$/.test(token) && count !== 5) {
        return { valid_format: false, parts_count: count, token_length: length };
      }
    }
    return { valid_format: false, error: 'token is not base64url text', token_length: length };
  }
  const parts = splitRight(text);
  if (parts.length !== 5) return { valid_format: false, parts_count: parts.length, token_length: length };
  const [callId = '', fn = '', expiry = '', nonce = '', signature = ''] = parts;
  const currentTime = Math.floor(nowSecs);
  let expiryDate: string | null = null;
  let isExpired: boolean | null = null;
  let expiresIn: number | null = null;
  if (/^[+-]?[0-9]+$/.test(expiry.trim())) {
    const at = Number(expiry.trim());
    const date = new Date(at * 1000);
    if (Number.isSafeInteger(at) && !Number.isNaN(date.getTime())) {
      expiryDate = date.toISOString();
      isExpired = at < currentTime;
      expiresIn = isExpired ? 0 : at - currentTime;
    }
  }
  return {
    valid_format: true,
    components: {
      call_id: shorten(callId),
      function: fn,
      expiry,
      expiry_date: expiryDate,
      nonce,
      signature: signature.slice(0, 8) + '...',
    },
    status: { current_time: currentTime, is_expired: isExpired, expires_in_seconds: expiresIn },
  };
}

/** `text.rsplit('.', 4)`: at most five parts, the first keeping any extra dots. */
function splitRight(text: string): string[] {
  const parts = text.split('.');
  if (parts.length <= 5) return parts;
  return [parts.slice(0, parts.length - 4).join('.'), ...parts.slice(-4)];
}
