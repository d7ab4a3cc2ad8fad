/**
 * What the SDK's own tests/SessionManager.test.ts gets in place of `../src/SessionManager.js`: the
 * client under the SDK's name and constructor, `new SessionManager(tokenExpirySecs = 900, secretKey?)`,
 * on the local stack (SWAIG_TEST_BASE_URL). Without a secret, a random one of the rotation's shape,
 * as the SDK makes a random one of its own.
 */

import { randomBytes } from 'node:crypto';

import { StaticKeys } from '../../src/keys.js';
import { RemoteSessionManager } from '../../src/manager.js';

export type { DebugTokenResult } from '../../src/tokens.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomKey(): string {
  return Array.from(randomBytes(64), (byte) => ALPHABET[byte % ALPHABET.length]).join('');
}

export class SessionManager extends RemoteSessionManager {
  constructor(tokenExpirySecs = 900, secretKey?: string) {
    const baseUrl = process.env['SWAIG_TEST_BASE_URL'];
    if (!baseUrl) throw new Error('SWAIG_TEST_BASE_URL names the local stack the client writes to');
    super(baseUrl, { keys: new StaticKeys(secretKey ?? randomKey()), signer: null }, { tokenExpirySecs, retryForSecs: 5 });
  }
}
