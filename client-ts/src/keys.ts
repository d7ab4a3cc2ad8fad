/**
 * Signing keys held in process, so that minting and checking never wait on the network.
 *
 * `StaticKeys`: a secret handed over (the SDK's `secretKey`). `SecretKeys`: the service's Secrets
 * Manager secret, AWSCURRENT and AWSPREVIOUS, loaded before the agent serves and re-read in the
 * background; a check never waits for a read.
 */

import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

import { SessionServiceError } from './errors.js';
import * as limits from './limits.js';
import type { Logger } from './log.js';

export const CURRENT = 'AWSCURRENT';
export const PREVIOUS = 'AWSPREVIOUS';

export interface SigningKeys {
  /** The key new tokens are signed with; throws SessionServiceError when none may be used. */
  current(): string;
  /** The keys a token may be signed with, most likely first. */
  candidates(): readonly string[];
  /** A signature matched no key held: re-read soon, in the background. */
  missed(): void;
  close(): void;
}

function weakKey(source: string): SessionServiceError {
  return new SessionServiceError(
    'misconfigured',
    `the signing key ${source} is not ${limits.SIGNING_KEY_RULE}: it is never used to mint or check`,
  );
}

export class StaticKeys implements SigningKeys {
  private readonly keys: readonly string[];

  constructor(secret: string) {
    if (!limits.isSigningKey(secret)) throw weakKey('given as secretKey');
    this.keys = Object.freeze([secret]);
  }

  current(): string {
    return this.keys[0] as string;
  }

  candidates(): readonly string[] {
    return this.keys;
  }

  missed(): void {} // a given secret never changes

  close(): void {}
}

export interface SecretKeysOptions {
  /** How often the keys are re-read (seconds); also part of AWSPREVIOUS's retirement window. */
  keyCacheSecs: number;
  /** The stack's MaxTokenLifetimeSecs: how long a token minted with the previous key may live. */
  maxTokenLifetimeSecs: number;
  /** The least time between two re-reads asked for by unmatched signatures (seconds). */
  refreshIntervalSecs?: number;
  logger: Logger;
  /** Wall clock in milliseconds (tests move it). */
  now?: () => number;
}

interface Held {
  current: string | null; // null: AWSCURRENT is not of the key's shape
  previous: string | null;
  previousUntil: number; // epoch ms: AWSPREVIOUS validates until then, never after
}

/**
 * AWSCURRENT and AWSPREVIOUS of one secret. AWSPREVIOUS validates only until AWSCURRENT's
 * CreatedDate + MaxTokenLifetimeSecs + keyCacheSecs: by then every token any instance minted with
 * it before noticing the rotation has expired. A key not of the rotation's shape is never used.
 */
export class SecretKeys implements SigningKeys {
  private held: Held = { current: null, previous: null, previousUntil: 0 };
  private timer: NodeJS.Timeout | null = null;
  private lastForced = Number.NEGATIVE_INFINITY;
  private reading: Promise<void> | null = null;
  private readonly now: () => number;
  private readonly refreshIntervalMs: number;

  private constructor(
    readonly secretId: string,
    private readonly client: SecretsManagerClient,
    private readonly options: SecretKeysOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.refreshIntervalMs = (options.refreshIntervalSecs ?? 5) * 1000;
  }

  /** Read both keys; refused (SessionServiceError) when they cannot be read or AWSCURRENT is unusable. */
  static async load(secretId: string, client: SecretsManagerClient, options: SecretKeysOptions): Promise<SecretKeys> {
    const keys = new SecretKeys(secretId, client, options);
    try {
      keys.held = await keys.read();
    } catch (error) {
      throw new SessionServiceError('keys_unavailable', `could not read the signing secret: ${describe(error)}`);
    }
    if (keys.held.current === null) throw weakKey(`${CURRENT} of ${secretId}`);
    keys.timer = setInterval(() => void keys.refresh(), options.keyCacheSecs * 1000);
    keys.timer.unref();
    return keys;
  }

  current(): string {
    const key = this.held.current;
    if (key === null) throw weakKey(`${CURRENT} of ${this.secretId}`);
    return key;
  }

  candidates(): readonly string[] {
    const { current, previous, previousUntil } = this.held;
    const keys: string[] = [];
    if (current !== null) keys.push(current);
    if (previous !== null && previous !== current && this.now() <= previousUntil) keys.push(previous);
    return keys;
  }

  missed(): void {
    const now = this.now();
    if (now - this.lastForced < this.refreshIntervalMs) return;
    this.lastForced = now;
    void this.refresh();
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Re-read now (one read at a time); a failed read keeps the keys held. */
  refresh(): Promise<void> {
    this.reading ??= this.read()
      .then((held) => {
        if (held.current !== this.held.current) this.options.logger.info('signing key rotated', { secret: this.secretId });
        this.held = held;
      })
      .catch((error: unknown) => {
        this.options.logger.warn('could not re-read the signing secret; keeping the keys held', {
          secret: this.secretId,
          error: describe(error),
        });
      })
      .finally(() => {
        this.reading = null;
      });
    return this.reading;
  }

  private async read(): Promise<Held> {
    const current = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId, VersionStage: CURRENT }));
    let previous: string | null = null;
    try {
      const answer = await this.client.send(
        new GetSecretValueCommand({ SecretId: this.secretId, VersionStage: PREVIOUS }),
      );
      previous = this.usable(answer.SecretString, PREVIOUS);
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error; // never rotated: no AWSPREVIOUS
    }
    const created = current.CreatedDate?.getTime();
    if (previous !== null && created === undefined) {
      this.options.logger.error('the signing secret has no CreatedDate: its previous key is not used', {
        secret: this.secretId,
      });
    }
    const windowMs = (this.options.maxTokenLifetimeSecs + this.options.keyCacheSecs) * 1000;
    return {
      current: this.usable(current.SecretString, CURRENT),
      previous: created === undefined ? null : previous,
      previousUntil: created === undefined ? 0 : created + windowMs,
    };
  }

  private usable(value: string | undefined, stage: string): string | null {
    if (limits.isSigningKey(value)) return value;
    this.options.logger.error(`the signing key's ${stage} is not ${limits.SIGNING_KEY_RULE}: never used`, {
      secret: this.secretId,
    });
    return null;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
