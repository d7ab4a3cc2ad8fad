/** Signing keys read through the secret's ARN: rotation, the previous key's retirement, weak keys. */

import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, describe, expect, it } from 'vitest';

import { SecretKeys, StaticKeys } from '../src/keys.js';
import { callId, recordingLogger, secretsManager, strongKey } from './support.js';

const MAX_LIFETIME = 3600;
const KEY_CACHE = 300;
const created: string[] = [];

afterEach(async () => {
  const sm = secretsManager();
  for (const arn of created.splice(0)) await sm.send(new DeleteSecretCommand({ SecretId: arn, ForceDeleteWithoutRecovery: true }));
});

async function secret(value: string): Promise<string> {
  const { ARN } = await secretsManager().send(new CreateSecretCommand({ Name: callId('key'), SecretString: value }));
  created.push(ARN as string);
  return ARN as string;
}

async function load(arn: string, now: () => number = Date.now, logger = recordingLogger()): Promise<SecretKeys> {
  const keys = await SecretKeys.load(arn, secretsManager(), {
    keyCacheSecs: KEY_CACHE,
    maxTokenLifetimeSecs: MAX_LIFETIME,
    refreshIntervalSecs: 0,
    logger,
    now,
  });
  keys.close();
  return keys;
}

describe('SecretKeys', () => {
  it('holds AWSCURRENT alone until a rotation', async () => {
    const first = strongKey();
    const keys = await load(await secret(first));
    expect(keys.current()).toBe(first);
    expect(keys.candidates()).toEqual([first]);
  });

  it("keeps AWSPREVIOUS only until AWSCURRENT's CreatedDate + MaxTokenLifetimeSecs + key cache seconds", async () => {
    const [first, second] = [strongKey(), strongKey()];
    const arn = await secret(first);
    await secretsManager().send(new PutSecretValueCommand({ SecretId: arn, SecretString: second }));
    const rotatedAt = (await secretsManager().send(new GetSecretValueCommand({ SecretId: arn }))).CreatedDate?.getTime() as number;
    let now = rotatedAt;
    const keys = await load(arn, () => now);
    expect(keys.current()).toBe(second);
    expect(keys.candidates()).toEqual([second, first]);
    now = rotatedAt + (MAX_LIFETIME + KEY_CACHE) * 1000; // the last moment, as session_rules.keys has it
    expect(keys.candidates()).toEqual([second, first]);
    now = rotatedAt + (MAX_LIFETIME + KEY_CACHE) * 1000 + 1;
    expect(keys.candidates()).toEqual([second]); // retired: never again, whatever a token says
    await keys.refresh();
    expect(keys.candidates()).toEqual([second]);
  });

  it('never uses a key not of the rotation shape, current or previous', async () => {
    const good = strongKey();
    const arn = await secret('too-short');
    await secretsManager().send(new PutSecretValueCommand({ SecretId: arn, SecretString: good }));
    const logger = recordingLogger();
    const keys = await load(arn, Date.now, logger);
    expect(keys.candidates()).toEqual([good]); // the weak previous one is dropped
    expect(logger.lines.some((line) => line.level === 'error' && line.message.includes('AWSPREVIOUS'))).toBe(true);

    // A weak key made current afterwards: nothing mints, and the good key checks only as AWSPREVIOUS.
    await secretsManager().send(new PutSecretValueCommand({ SecretId: arn, SecretString: 'x'.repeat(64) + '!' }));
    await keys.refresh();
    expect(() => keys.current()).toThrow(/misconfigured/);
    expect(keys.candidates()).toEqual([good]);
  });

  it('keeps the keys held when a re-read fails', async () => {
    const first = strongKey();
    const arn = await secret(first);
    const logger = recordingLogger();
    const keys = await load(arn, Date.now, logger);
    await secretsManager().send(new DeleteSecretCommand({ SecretId: arn, ForceDeleteWithoutRecovery: true }));
    created.splice(created.indexOf(arn), 1);
    await keys.refresh();
    expect(keys.current()).toBe(first);
    expect(logger.lines.some((line) => line.level === 'warn' && line.message.includes('keeping the keys'))).toBe(true);
  });

  it('follows AWSCURRENT moved back by hand', async () => {
    const [first, second] = [strongKey(), strongKey()];
    const arn = await secret(first);
    const { VersionId: secondVersion } = await secretsManager().send(new PutSecretValueCommand({ SecretId: arn, SecretString: second }));
    const keys = await load(arn);
    expect(keys.current()).toBe(second);
    const firstVersion = (await secretsManager().send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSPREVIOUS' }))).VersionId;
    await secretsManager().send(
      new UpdateSecretVersionStageCommand({ SecretId: arn, VersionStage: 'AWSCURRENT', MoveToVersionId: firstVersion, RemoveFromVersionId: secondVersion }),
    );
    await keys.refresh();
    expect(keys.current()).toBe(first);
  });
});

describe('StaticKeys', () => {
  it('takes only a key of the rotation shape', () => {
    const key = strongKey();
    expect(new StaticKeys(key).candidates()).toEqual([key]);
    for (const weak of ['', 'short', 'a'.repeat(31), 'a'.repeat(63), 'a'.repeat(64) + 'b', ' '.repeat(64), 'ä'.repeat(64)]) {
      expect(() => new StaticKeys(weak), JSON.stringify(weak)).toThrow(/misconfigured/);
    }
  });
});
