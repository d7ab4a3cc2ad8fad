/** Tokens and input rules against the answers of the service's own Python rules (tests/support/rule_vectors.py). */

import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import * as limits from '../src/limits.js';
import * as tokens from '../src/tokens.js';
import { env } from './support.js';

interface Vectors {
  key: string;
  now: number;
  max_lifetime: number;
  mints: Array<{ key: string; call_id: string; function: string; expiry: number; nonce: string; token: string }>;
  checks: Array<{ call_id: string; function: string; token: unknown; valid: boolean; reason: string | null; fields: string[] | null }>;
  limits: Array<{ value: unknown; call_id: boolean; function_name: boolean; token_text: boolean; incarnation?: boolean }>;
  constants: Record<string, number>;
}

const vectors = JSON.parse(readFileSync(env().vectors, 'utf8')) as Vectors;

describe('tokens, as the service mints and checks them', () => {
  it('mints byte for byte what the service mints', () => {
    expect(vectors.mints.length).toBeGreaterThan(0);
    for (const v of vectors.mints) {
      expect(tokens.mint(v.key, v.call_id, v.function, v.expiry, v.nonce), JSON.stringify(v)).toBe(v.token);
    }
  });

  it('gives every token the service verdict and reason, inputs refused as the service refuses them', () => {
    expect(vectors.checks.filter((v) => v.valid).length).toBeGreaterThan(3);
    expect(new Set(vectors.checks.map((v) => v.reason)).size).toBeGreaterThan(8);
    for (const v of vectors.checks) {
      const code = tokens.inputError(v.call_id, v.function, v.token);
      const got = code
        ? tokens.refused(code)
        : tokens.verify([vectors.key], v.call_id, v.function, v.token, vectors.now, vectors.max_lifetime);
      expect({ valid: got.valid, reason: got.reason }, JSON.stringify(v)).toEqual({ valid: v.valid, reason: v.reason });
    }
  });

  it('parses exactly what the service parses, field for field', () => {
    for (const v of vectors.checks) {
      const fields = tokens.parse(v.token);
      const got = fields && [fields.callId, fields.function, fields.expiry, fields.nonce, fields.signature];
      expect(got, JSON.stringify(v.token)).toEqual(v.fields);
    }
  });

  it('applies the input rules as the service does', () => {
    for (const v of vectors.limits) {
      expect(limits.isCallId(v.value), `call id ${JSON.stringify(v.value)}`).toBe(v.call_id);
      expect(limits.isFunctionName(v.value), `function ${JSON.stringify(v.value)}`).toBe(v.function_name);
      expect(limits.isTokenText(v.value), `token text ${JSON.stringify(v.value)}`).toBe(v.token_text);
      if (v.incarnation !== undefined) expect(limits.isIncarnation(v.value)).toBe(v.incarnation);
    }
    const c = vectors.constants;
    expect([
      limits.MAX_CALL_ID_LENGTH,
      limits.MAX_FUNCTION_NAME_LENGTH,
      limits.MAX_TOKEN_LENGTH,
      limits.MAX_METADATA_KEY_LENGTH,
      limits.MAX_METADATA_BYTES,
      limits.DEFAULT_TOKEN_EXPIRY_SECS,
      limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS,
    ]).toEqual([
      c['MAX_CALL_ID_LENGTH'],
      c['MAX_FUNCTION_NAME_LENGTH'],
      c['MAX_TOKEN_LENGTH'],
      c['MAX_METADATA_KEY_LENGTH'],
      c['MAX_METADATA_BYTES'],
      c['DEFAULT_TOKEN_EXPIRY_SECS'],
      c['DEFAULT_MAX_TOKEN_LIFETIME_SECS'],
    ]);
    if (c['INCARNATION_LENGTH'] !== undefined) expect(limits.INCARNATION_LENGTH).toBe(c['INCARNATION_LENGTH']);
  });

  it('mints nonces that begin with the call incarnation', () => {
    const incarnation = tokens.newIncarnation();
    expect(limits.isIncarnation(incarnation)).toBe(true);
    const nonce = tokens.newNonce(incarnation);
    expect(nonce).toMatch(/^[0-9a-f]{16}$/);
    expect(nonce.startsWith(incarnation)).toBe(true);
  });

  it('checks against each key held, and against none when none is held', () => {
    const token = tokens.mint(vectors.key, 'call-1', 'fn', Math.floor(vectors.now) + 60);
    const other = 'B'.repeat(64);
    expect(tokens.verify([other, vectors.key], 'call-1', 'fn', token, vectors.now).valid).toBe(true);
    expect(tokens.verify([other], 'call-1', 'fn', token, vectors.now).reason).toBe(tokens.BAD_SIGNATURE);
    expect(tokens.verify([], 'call-1', 'fn', token, vectors.now).reason).toBe(tokens.BAD_SIGNATURE);
  });
});

describe('debug view', () => {
  it('decodes a token in the SDK shape, never checking its signature', () => {
    const token = tokens.mint('A'.repeat(64), 'a-very-long-call-id', 'fn', 2_000_000_000, 'ab'.repeat(8));
    expect(tokens.debug(token, 1_999_999_990)).toEqual({
      valid_format: true,
      components: {
        call_id: 'a-very-l...',
        function: 'fn',
        expiry: '2000000000',
        expiry_date: new Date(2_000_000_000_000).toISOString(),
        nonce: 'ab'.repeat(8),
        signature: expect.stringMatching(/^[0-9a-f]{8}\.\.\.$/),
      },
      status: { current_time: 1_999_999_990, is_expired: false, expires_in_seconds: 10 },
    });
  });

  it('reports what it cannot decode', () => {
    expect(tokens.debug(Buffer.from('a.b.c').toString('base64url'), 0)).toEqual({
      valid_format: false,
      parts_count: 3,
      token_length: 7,
    });
    expect(tokens.debug('***', 0)).toMatchObject({ valid_format: false, token_length: 3 });
  });
});
