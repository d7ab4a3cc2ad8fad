/** The manager against the local stack: what it answers at once, and what reaches the service behind. */

import { DeleteSecretCommand, CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, describe, expect, it } from 'vitest';

import { SessionServiceError } from '../src/errors.js';
import { RemoteSessionManager } from '../src/manager.js';
import * as tokens from '../src/tokens.js';
import { callId, connect, env, eventually, recordingLogger, secretsManager, service, serviceVerdict, strongKey } from './support.js';

const managers: RemoteSessionManager[] = [];

async function manager(options: Parameters<typeof connect>[0] = {}): Promise<RemoteSessionManager> {
  const made = await connect(options);
  managers.push(made);
  return made;
}

afterAll(async () => {
  await Promise.all(managers.map((m) => m.close()));
});

describe('connect', () => {
  it('loads the keys before answering: tokens mint and check with the stack key at once', async () => {
    const m = await manager();
    const call = callId();
    const token = m.generateToken('get_weather', call);
    expect(m.validateToken(call, 'get_weather', token)).toBe(true);
    expect(tokens.verify([env().signingKey], call, 'get_weather', token, Date.now() / 1000).valid).toBe(true);
    expect(m.secretKey).toBe(env().signingKey);
    expect(m.signed).toBe(false); // the local stack is never signed for
  });

  it('takes the key or its ARN, exactly one', async () => {
    await expect(RemoteSessionManager.connect(env().baseUrl, {})).rejects.toThrow(TypeError);
    await expect(
      RemoteSessionManager.connect(env().baseUrl, { secretKey: strongKey(), secretArn: env().secretArn }),
    ).rejects.toThrow(TypeError);
    await expect(RemoteSessionManager.connect('ftp://example', { secretKey: strongKey() })).rejects.toThrow(TypeError);
  });

  it('refuses a key not of the rotation shape, given or read', async () => {
    for (const weak of ['short', 'x'.repeat(63), 'x'.repeat(65), `${'x'.repeat(63)}!`, 'é'.repeat(64)]) {
      await expect(RemoteSessionManager.connect(env().baseUrl, { secretKey: weak })).rejects.toMatchObject({
        code: 'misconfigured',
      });
    }
    const sm = secretsManager();
    const name = callId('weak-secret');
    const { ARN } = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'not-a-rotation-key' }));
    try {
      await expect(manager({ secretArn: ARN as string })).rejects.toMatchObject({ code: 'misconfigured' });
    } finally {
      await sm.send(new DeleteSecretCommand({ SecretId: ARN, ForceDeleteWithoutRecovery: true }));
    }
  });

  it('fails to connect when the secret cannot be read', async () => {
    await expect(manager({ secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:absent' })).rejects.toMatchObject({
      code: 'keys_unavailable',
    });
  });
});

describe('sessions reach the service in the background', () => {
  it('starts the session with its incarnation, so the service accepts the tokens minted here', async () => {
    const m = await manager();
    const call = callId();
    const token = m.createToolToken('get_weather', call);
    const incarnation = tokens.parse(token)?.nonce.slice(0, 8);
    expect(await m.flush(20_000)).toBe(true);
    expect(await serviceVerdict(call, 'get_weather', token)).toEqual({ valid: true });
    // Another instance of the same call picks its own incarnation; the session accepts both.
    const other = await manager();
    const second = other.createToolToken('get_weather', call);
    expect(tokens.parse(second)?.nonce.slice(0, 8)).not.toBe(incarnation);
    expect(await other.flush(20_000)).toBe(true);
    expect(await serviceVerdict(call, 'get_weather', second)).toEqual({ valid: true });
    expect(await serviceVerdict(call, 'get_weather', token)).toEqual({ valid: true });
    expect(m.stats()).toMatchObject({ pending: 0, failed: 0, dropped: 0 });
  });

  it('asks the service for the token lifetime it mints with', async () => {
    const m = await manager({ tokenExpirySecs: 3600 });
    const call = callId();
    const token = m.generateToken('fn', call);
    expect(Number(tokens.parse(token)?.expiry) - Math.floor(Date.now() / 1000)).toBeGreaterThan(3000);
    expect(await m.flush(20_000)).toBe(true);
    expect(await serviceVerdict(call, 'fn', token)).toEqual({ valid: true });
  });

  it('accepts tokens the service minted, and tokens of other calls or functions are refused', async () => {
    const m = await manager();
    const call = callId();
    const minted = await service('POST', '/sessions', { call_id: call, functions: ['a', 'b'] });
    const served = (minted.body['tokens'] as Record<string, string>)['a'] as string;
    expect(m.checkToken(call, 'a', served)).toEqual({ valid: true, reason: null });
    expect(m.checkToken(call, 'b', served)).toEqual({ valid: false, reason: 'function_mismatch' });
    expect(m.checkToken(`${call}x`, 'a', served)).toEqual({ valid: false, reason: 'call_id_mismatch' });
    expect(m.checkToken(call, 'a', tokens.mint(strongKey(), call, 'a', Math.floor(Date.now() / 1000) + 60))).toEqual({
      valid: false,
      reason: 'bad_signature',
    });
    expect(m.checkToken('', 'a', served)).toEqual({ valid: false, reason: 'invalid_call_id' });
    expect(m.validateToolToken('a', served, call)).toBe(true);
  });

  it('ends a session: refused here at once, then by the service; the call mints no more', async () => {
    const m = await manager();
    const call = callId();
    const token = m.generateToken('fn', call);
    m.setSessionMetadata(call, { step: 1 });
    expect(m.endSession(call)).toBe(true);
    expect(m.checkToken(call, 'fn', token)).toEqual({ valid: false, reason: 'session_ended' });
    expect(() => m.generateToken('fn', call)).toThrow(SessionServiceError);
    expect(m.getSessionMetadata(call)).toEqual({});
    expect(m.endSession(call)).toBe(false);
    expect(m.activateSession(call)).toBe(false);
    expect(m.setSessionMetadata(call, 'k', 'v')).toBe(false);
    expect(await m.flush(20_000)).toBe(true);
    expect(await serviceVerdict(call, 'fn', token)).toEqual({ valid: false, reason: 'session_ended' });
    expect((await service('GET', `/sessions/${call}/metadata`)).body['metadata']).toEqual({});
  });

  it('learns that a session was ended elsewhere when it asks again (endedCheckSecs)', async () => {
    const m = await manager({ endedCheckSecs: 0.2 });
    const call = callId();
    const token = m.generateToken('fn', call);
    expect(await m.flush(20_000)).toBe(true);
    expect(m.validateToken(call, 'fn', token)).toBe(true);
    expect((await service('DELETE', `/sessions/${call}`)).body).toEqual({ ended: true });
    await eventually(() => !m.validateToken(call, 'fn', token), 'the ended session refused here');
    expect(m.checkToken(call, 'fn', token).reason).toBe('session_ended');
  });

  it('learns of an end elsewhere for a call it only checks tokens of', async () => {
    const minter = await manager();
    const checker = await manager({ endedCheckSecs: 0.2 });
    const call = callId();
    const token = minter.generateToken('fn', call);
    expect(await minter.flush(20_000)).toBe(true);
    expect(checker.validateToken(call, 'fn', token)).toBe(true);
    expect(minter.endSession(call)).toBe(true);
    expect(await minter.flush(20_000)).toBe(true);
    await eventually(() => !checker.validateToken(call, 'fn', token), 'the checker learns of the end');
  });

  it('never re-sends the incarnation of a token it only checked: a later session of the call id keeps refusing it', async () => {
    const call = callId();
    const started = await service('POST', '/sessions', { call_id: call, function: 'fn' });
    const old = (started.body['tokens'] as Record<string, string>)['fn'] as string;
    expect((await service('DELETE', `/sessions/${call}`)).body).toEqual({ ended: true });
    expect((await service('POST', '/sessions', { call_id: call })).status).toBe(201); // the id starts a new call
    expect(await serviceVerdict(call, 'fn', old)).toEqual({ valid: false, reason: 'session_ended' });
    const sent: Array<{ method: string; path: string; body: string }> = [];
    const recording: typeof fetch = (input, init) => {
      const url = new URL(String(input));
      sent.push({ method: init?.method ?? 'GET', path: url.pathname, body: String(init?.body ?? '') });
      return fetch(input, init);
    };
    const checker = await manager({ endedCheckSecs: 0.2, fetch: recording });
    expect(checker.validateToken(call, 'fn', old)).toBe(true); // the key alone cannot tell an ended session
    const asked = () => sent.filter((r) => r.path === `/sessions/${call}/tokens` || r.body.includes(`"${call}"`)).length;
    await eventually(() => asked() >= 2, 'the service asked twice about the checked call');
    expect(await checker.flush(20_000)).toBe(true);
    expect(sent.filter((r) => r.path === '/sessions')).toEqual([]); // no start: nothing of the old token's is sent
    expect(await serviceVerdict(call, 'fn', old)).toEqual({ valid: false, reason: 'session_ended' });
  });

  it('a call ended and started again elsewhere is ended here: its incarnation is retired (endedCheckSecs)', async () => {
    const m = await manager({ endedCheckSecs: 0.2 });
    const call = callId();
    const token = m.generateToken('fn', call);
    expect(await m.flush(20_000)).toBe(true);
    expect((await service('DELETE', `/sessions/${call}`)).body).toEqual({ ended: true });
    expect((await service('POST', '/sessions', { call_id: call })).status).toBe(201); // the id's next call
    // the re-sent start is refused 409 incarnation_retired: the call's tokens are refused here too
    await eventually(() => !m.validateToken(call, 'fn', token), 'the manager learns its session is over');
    expect(() => m.generateToken('fn', call)).toThrow(/session_ended/);
    expect(await serviceVerdict(call, 'fn', token)).toEqual({ valid: false, reason: 'session_ended' });
  });

  it('without the check, a session ended elsewhere is not seen here', async () => {
    const m = await manager();
    const call = callId();
    const token = m.generateToken('fn', call);
    expect(await m.flush(20_000)).toBe(true);
    await service('DELETE', `/sessions/${call}`);
    expect(m.validateToken(call, 'fn', token)).toBe(true);
    expect(await serviceVerdict(call, 'fn', token)).toEqual({ valid: false, reason: 'session_ended' });
  });

  it('a start the service refuses as ended marks the call ended here', async () => {
    const call = callId();
    await service('POST', '/sessions', { call_id: call });
    await service('DELETE', `/sessions/${call}`);
    const logger = recordingLogger();
    const m = await manager({ logger });
    const token = m.generateToken('fn', call); // minted at once: nothing is asked before
    expect(await m.flush(20_000)).toBe(true);
    expect(m.checkToken(call, 'fn', token).reason).toBe('session_ended');
    expect(logger.lines.some((line) => line.level === 'warn' && line.message.includes('ended elsewhere'))).toBe(true);
  });
});

describe('metadata', () => {
  it('answers what this instance knows at once, writes it behind, and reads the service on asking', async () => {
    const m = await manager();
    const other = await manager();
    const call = callId();
    m.setSessionMetadata(call, { caller: 'John', nested: { n: [1, 2.5, null, true, 'é'] } });
    expect(m.setSessionMetadata(call, 'topic', 'billing')).toBe(true);
    expect(m.getSessionMetadata(call)).toEqual({ caller: 'John', nested: { n: [1, 2.5, null, true, 'é'] }, topic: 'billing' });
    expect(other.getSessionMetadata(call)).toEqual({}); // what the other instance knows
    expect(await m.fetchSessionMetadata(call)).toEqual(m.getSessionMetadata(call)); // read after the writes
    expect(await other.fetchSessionMetadata(call)).toEqual({
      caller: 'John',
      nested: { n: [1, 2.5, null, true, 'é'] },
      topic: 'billing',
    });
    expect(other.getSessionMetadata(call)).toEqual(m.getSessionMetadata(call));
    expect(m.deleteSessionMetadata(call)).toBe(true);
    expect(m.deleteSessionMetadata(call)).toBe(false);
    expect(await m.fetchSessionMetadata(call)).toEqual({});
  });

  it('refuses at once what the service would refuse, and nothing is sent', async () => {
    const m = await manager();
    const call = callId();
    expect(() => m.setSessionMetadata(call, { when: new Date() })).toThrow(SessionServiceError);
    expect(() => m.setSessionMetadata(call, { n: Number.NaN })).toThrow(/finite/);
    expect(() => m.setSessionMetadata(call, 'k', undefined)).toThrow(SessionServiceError);
    expect(() => m.setSessionMetadata(call, { ['k'.repeat(129)]: 1 })).toThrow(/keys/);
    expect(() => m.setSessionMetadata(call, { big: 'x'.repeat(64 * 1024) })).toThrow(/at most/);
    expect(() => m.setSessionMetadata('bad/id', { a: 1 })).toThrow(/call_id/);
    expect(() => m.getSessionMetadata('x')).not.toThrow();
    expect(m.getSessionMetadata(call)).toEqual({});
    expect(m.stats().pending).toBe(0);
    expect((await service('GET', `/sessions/${call}/metadata`)).body['metadata']).toEqual({});
  });
});

describe('the SDK surface', () => {
  it('createSession returns the id given or a new SDK-like one, and starts it', async () => {
    const m = await manager();
    expect(m.createSession('given-id')).toBe('given-id');
    const made = m.createSession();
    expect(made).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(await m.flush(20_000)).toBe(true);
    expect((await service('GET', `/sessions/${made}/metadata`)).status).toBe(200);
    expect(() => m.createSession('bad/id')).toThrow(SessionServiceError);
  });

  it('keeps the token lifetime within the stack bounds', async () => {
    const m = await manager();
    expect(m.tokenExpirySecs).toBe(900);
    m.tokenExpirySecs = 3600;
    for (const bad of [0, -1, 1.5, 86_401, Number.NaN]) {
      expect(() => {
        m.tokenExpirySecs = bad;
      }).toThrow(RangeError);
    }
    expect(m.tokenExpirySecs).toBe(3600);
  });

  it('debugToken answers as the SDK, decoding only in debug mode', async () => {
    const m = await manager();
    const token = m.generateToken('fn', callId());
    expect(m.debugToken(token)).toEqual({ valid_format: false, error: 'debug mode not enabled' });
    m.debugMode = true;
    expect(m.debugToken(token)).toMatchObject({ valid_format: true, components: { function: 'fn' } });
  });

  it('install() takes the agent lifetime and refuses what is not an agent', async () => {
    const m = await manager();
    const agentWith = (tokenExpirySecs: number) => ({
      sessionManager: { tokenExpirySecs, validateToken() {}, createToolToken() {}, createSession() {} } as unknown,
      onSwmlRequest() {},
    });
    const agent = agentWith(3600);
    expect(m.install(agent)).toBe(m);
    expect(agent.sessionManager).toBe(m);
    expect(m.tokenExpirySecs).toBe(3600);
    expect(() => m.install({ onSwmlRequest() {} })).toThrow(TypeError);
    expect(() => m.install(agentWith(90_000))).toThrow(RangeError);
  });
});

describe('rotation', () => {
  it('checks with AWSPREVIOUS after a rotation, mints with AWSCURRENT, and picks a rotation up on a miss', async () => {
    const sm = secretsManager();
    const first = strongKey();
    const { ARN } = await sm.send(new CreateSecretCommand({ Name: callId('rotating'), SecretString: first }));
    try {
      const m = await manager({ secretArn: ARN as string });
      const call = callId();
      const old = m.generateToken('fn', call);
      const second = strongKey();
      await sm.send(new PutSecretValueCommand({ SecretId: ARN, SecretString: second }));
      const fresh = tokens.mint(second, call, 'fn', Math.floor(Date.now() / 1000) + 60);
      // Not read yet: refused once, which asks for a re-read in the background.
      expect(m.checkToken(call, 'fn', fresh).reason).toBe('bad_signature');
      await eventually(() => m.validateToken(call, 'fn', fresh), 'the rotated key picked up');
      expect(m.validateToken(call, 'fn', old)).toBe(true); // AWSPREVIOUS, within its window
      expect(m.secretKey).toBe(second);
    } finally {
      await sm.send(new DeleteSecretCommand({ SecretId: ARN, ForceDeleteWithoutRecovery: true }));
    }
  });
});
