/**
 * RemoteSessionManager: `@signalwire/sdk`'s SessionManager, shared through the SWAIG session service.
 *
 * The SDK calls its session manager synchronously (it checks `validateToken` without `await` and
 * mints while it builds the SWML), so this one answers in process: it holds the service's signing
 * keys, mints and checks tokens itself, and sends what the service must know (a session's start,
 * its metadata, its end) in the background, never making the agent wait.
 */

import { randomBytes } from 'node:crypto';

import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

import { adoptSignalWireCallId } from './agent.js';
import { SessionServiceError } from './errors.js';
import { SecretKeys, type SigningKeys, StaticKeys } from './keys.js';
import * as limits from './limits.js';
import { consoleLogger, type Logger } from './log.js';
import { Outbox, type OutboxStats } from './outbox.js';
import { type Credentials, configuredRegion, type Signer, signerFor } from './signing.js';
import * as tokens from './tokens.js';
import { wellFormed } from './tokens.js';
import { type Json, Transport } from './transport.js';

/** How many calls' state (incarnation, announced lifetime, ended mark) is held; the oldest go first. */
export const MAX_CALLS = 100_000;
/**
 * A start asks the service to keep the session this much longer than the tokens minted so far need,
 * so the rest of a render, or a render again within a minute, needs no other start (as the Python
 * client does). Within MaxTokenLifetimeSecs.
 */
export const START_MARGIN_SECS = 60;
/** The SDK's own bound on its metadata map, past which it cleans up; then the oldest entries go. */
const METADATA_CLEANUP_AT = 1000;
const MAX_METADATA_ENTRIES = 10_000;

export interface ManagerOptions {
  /** Lifetime of the tokens minted here (the SDK's tokenExpirySecs; install() carries the agent's). */
  tokenExpirySecs?: number;
  /** The stack's MaxTokenLifetimeSecs (default one day): checks refuse expiries further ahead. */
  maxTokenLifetimeSecs?: number;
  /** The SDK's debugMode: debugToken decodes tokens instead of answering that debug mode is off. */
  debugMode?: boolean;
  /** Re-ask the service every this many seconds whether calls with live tokens were ended elsewhere (0: never). */
  endedCheckSecs?: number;
  /** One background request's deadline, connecting and answering together (ms). */
  requestTimeoutMs?: number;
  /** How long a background request keeps being retried before it is given up (seconds). */
  retryForSecs?: number;
  /** Background requests queued or under way, at most; beyond it new ones are dropped and counted. */
  maxPending?: number;
  /** Calls whose background requests run at the same time. */
  concurrency?: number;
  logger?: Logger;
  /** The HTTP client (tests); the global fetch otherwise. */
  fetch?: typeof fetch;
}

export interface ConnectOptions extends ManagerOptions {
  /** The signing secret's ARN (the stack's SigningSecretArn output): read now, re-read in the background. */
  secretArn?: string;
  /** The signing secret's value, when it is handed over rather than read. */
  secretKey?: string;
  /** How often keys read through secretArn are re-read (seconds, default 300). */
  keyCacheSecs?: number;
  /** Region for SigV4 and Secrets Manager; else the ARN's, the URL's, or the AWS SDK's configured one. */
  region?: string;
  /** AWS credentials or a provider; else the AWS SDK's default chain. */
  credentials?: Credentials;
  /** true: always sign; false: never; default: all but http://127.0.0.1 and http://localhost. */
  sign?: boolean;
  /** A Secrets Manager client of one's own (endpoint, retries); else one for the region. */
  secretsManager?: SecretsManagerClient;
}

export interface ManagerStats extends OutboxStats {
  /** Calls this instance holds state for. */
  calls: number;
  /** Calls this instance knows as ended. */
  ended: number;
}

interface CallState {
  incarnation: string;
  announcedUntil: number; // epoch seconds: the latest token expiry a start has announced
}

interface Watch {
  /** The incarnation this manager picked for the call, re-sent as its start; null when the call's
   * tokens were only checked here (never re-sent: a start with an incarnation read from a token would
   * have a later session of the call id accept an ended one's tokens again). */
  incarnation: string | null;
  function: string; // one function a token was checked for: the probe of a checked-only call mints for it
  expiry: number; // epoch seconds: the latest live token seen for the call
  checking: boolean;
}

/** Everything a manager needs that connect() finds or reads: the keys, and how to sign requests. */
export interface Connection {
  keys: SigningKeys;
  signer: Signer | null;
}

function nowSecs(): number {
  return Date.now() / 1000;
}

/** A value the service keeps and hands back exactly: JSON's types, finite numbers, whole Unicode. */
function jsonProblem(value: unknown, where: string): string | null {
  if (value === null || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : `${where} is not a finite number`;
  if (typeof value === 'string') return wellFormed(value) ? null : `${where} holds a lone surrogate`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) return `${where}[${i}] is a hole`;
      const problem = jsonProblem(value[i], `${where}[${i}]`);
      if (problem) return problem;
    }
    return null;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return `${where} is not a plain object`;
    for (const [key, item] of Object.entries(value)) {
      if (!wellFormed(key)) return `a key in ${where} holds a lone surrogate`;
      const problem = jsonProblem(item, `${where}.${key}`);
      if (problem) return problem;
    }
    return null;
  }
  return `${where} is a ${typeof value}, which JSON cannot hold`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A drop-in for `@signalwire/sdk`'s `SessionManager`: the same methods, argument orders and return
 * types, synchronous where the SDK's are. Create it with `await RemoteSessionManager.connect(url,
 * options)` and put it into an agent with `manager.install(agent)`.
 */
export class RemoteSessionManager {
  /** The SDK's switch: when true, debugToken decodes tokens. */
  debugMode: boolean;
  readonly baseUrl: string;
  readonly maxTokenLifetimeSecs: number;
  readonly endedCheckSecs: number;
  private expirySecs: number = limits.DEFAULT_TOKEN_EXPIRY_SECS;
  private readonly keys: SigningKeys;
  private readonly transport: Transport;
  private readonly outbox: Outbox;
  private readonly log: Logger;
  private readonly calls = new Map<string, CallState>();
  private readonly endedCalls = new Map<string, number>(); // call id -> epoch seconds the mark lasts until
  private readonly watched = new Map<string, Watch>();
  private readonly writes = new Map<string, number>(); // metadata writes queued per call, for fetches
  private readonly endedTimer: NodeJS.Timeout | null = null;
  private closed = false;
  // The SDK's names for its metadata maps (its own tests reach into sessionTimestamps).
  private readonly sessionMetadata = new Map<string, Record<string, unknown>>();
  private readonly sessionTimestamps = new Map<string, number>();

  /**
   * Connect to the service: find how to sign its requests and load the signing keys (from Secrets
   * Manager with secretArn), so that the manager answers in process from its first call.
   */
  static async connect(baseUrl: string, options: ConnectOptions): Promise<RemoteSessionManager> {
    if (!/^https?:\/\//.test(baseUrl)) throw new TypeError(`baseUrl must be an http(s) URL, not ${JSON.stringify(baseUrl)}`);
    if (Boolean(options.secretArn) === Boolean(options.secretKey)) {
      throw new TypeError('give secretArn or secretKey (exactly one): a TypeScript agent checks tokens in process');
    }
    checkOptions(options);
    if (options.keyCacheSecs !== undefined && !(options.keyCacheSecs > 0)) {
      throw new RangeError(`keyCacheSecs must be a number of seconds above 0, not ${options.keyCacheSecs}`);
    }
    const logger = options.logger ?? consoleLogger;
    const maxTokenLifetimeSecs = options.maxTokenLifetimeSecs ?? limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS;
    const signer = await signerFor(
      baseUrl,
      { sign: options.sign, credentials: options.credentials, region: options.region },
      logger,
    );
    let keys: SigningKeys;
    if (options.secretKey) {
      keys = new StaticKeys(options.secretKey);
    } else {
      const arn = options.secretArn as string;
      const client = options.secretsManager ?? (await secretsManagerFor(arn, options));
      keys = await SecretKeys.load(arn, client, {
        keyCacheSecs: options.keyCacheSecs ?? 300,
        maxTokenLifetimeSecs,
        logger,
      });
    }
    return new RemoteSessionManager(baseUrl, { keys, signer }, { ...options, maxTokenLifetimeSecs });
  }

  /** For keys already held (connect() is the usual way in). */
  constructor(baseUrl: string, connection: Connection, options: ManagerOptions = {}) {
    checkOptions(options);
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.keys = connection.keys;
    this.log = options.logger ?? consoleLogger;
    this.maxTokenLifetimeSecs = options.maxTokenLifetimeSecs ?? limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS;
    this.tokenExpirySecs = options.tokenExpirySecs ?? limits.DEFAULT_TOKEN_EXPIRY_SECS;
    this.debugMode = options.debugMode ?? false;
    this.transport = new Transport(this.baseUrl, {
      signer: connection.signer,
      timeoutMs: options.requestTimeoutMs ?? 10_000, // the Python client's read timeout
      maxAnswerBytes: 1024 * 1024,
      breakerFailures: 5,
      breakerCoolDownMs: 5000,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    this.outbox = new Outbox({
      maxPending: options.maxPending ?? 10_000,
      concurrency: options.concurrency ?? 8,
      retryForMs: (options.retryForSecs ?? 120) * 1000,
      backoffMs: 200,
      maxBackoffMs: 10_000,
      logger: this.log,
    });
    this.endedCheckSecs = options.endedCheckSecs ?? 0;
    if (this.endedCheckSecs > 0) {
      this.endedTimer = setInterval(() => this.checkEnded(), this.endedCheckSecs * 1000);
      this.endedTimer.unref();
    }
  }

  /** The lifetime of tokens minted here: an integer of seconds, 1 to maxTokenLifetimeSecs. */
  get tokenExpirySecs(): number {
    return this.expirySecs;
  }

  set tokenExpirySecs(value: number) {
    if (!limits.isTokenLifetime(value, this.maxTokenLifetimeSecs)) {
      throw new RangeError(
        `tokenExpirySecs must be an integer of seconds from ${limits.MIN_TOKEN_LIFETIME_SECS} to ` +
          `maxTokenLifetimeSecs (${this.maxTokenLifetimeSecs}), not ${value}`,
      );
    }
    this.expirySecs = value;
  }

  /** The key new tokens are signed with (the SDK exposes its secret too). */
  get secretKey(): string {
    return this.keys.current();
  }

  /** True when requests carry a SigV4 signature. */
  get signed(): boolean {
    return this.transport.signed;
  }

  /**
   * Put this manager into an `AgentBase`: its private session manager field, with the agent's token
   * lifetime carried over, and the call id of SignalWire's SWML request (`{"call": {"call_id"}}`)
   * handed to the SDK, which reads only a top-level `call_id`. No SDK code changes.
   */
  install(agent: object): this {
    const holder = agent as { sessionManager?: unknown };
    const current = holder.sessionManager;
    if (current !== this) {
      if (!isSessionManager(current)) {
        throw new TypeError('install() takes an @signalwire/sdk AgentBase: this object has no session manager to replace');
      }
      this.tokenExpirySecs = current.tokenExpirySecs;
    }
    holder.sessionManager = this;
    adoptSignalWireCallId(agent);
    return this;
  }

  // -- sessions ------------------------------------------------------------------------------

  /**
   * The call id given, or a new one like the SDK's (16 random bytes, base64url). The session's start
   * goes to the service in the background, with an incarnation picked here for the call.
   */
  createSession(callId?: string): string {
    const id = callId || randomBytes(16).toString('base64url');
    requireCallId(id);
    if (!this.isEnded(id)) this.announce(id, Math.floor(nowSecs()) + this.tokenExpirySecs);
    return id;
  }

  /** True once the session is started here (in the background); false when it was ended. */
  activateSession(callId: string): boolean {
    requireCallId(callId);
    if (this.isEnded(callId)) return false;
    if (!this.calls.has(callId)) this.announce(callId, Math.floor(nowSecs()) + this.tokenExpirySecs);
    return true;
  }

  /**
   * End the session: its tokens are refused here at once, its metadata goes, and the service is told
   * in the background. True unless this instance had already ended it.
   */
  endSession(callId: string): boolean {
    requireCallId(callId);
    if (this.isEnded(callId)) return false;
    this.markEnded(callId);
    this.sessionMetadata.delete(callId);
    this.sessionTimestamps.delete(callId);
    this.background(callId, 'DELETE', `/sessions/${callId}`);
    return true;
  }

  // -- tokens --------------------------------------------------------------------------------

  /** A token for one function of one call, minted here with the call's incarnation in its nonce. */
  generateToken(functionName: string, callId: string): string {
    if (!limits.isFunctionName(functionName)) {
      throw new SessionServiceError('invalid_function', `function names are ${limits.FUNCTION_NAME_RULE}`, 400);
    }
    requireCallId(callId);
    if (this.isEnded(callId)) {
      throw new SessionServiceError('session_ended', 'the session was ended; its call mints no more tokens', 409);
    }
    const key = this.keys.current();
    const expiry = Math.floor(nowSecs()) + this.tokenExpirySecs;
    const state = this.announce(callId, expiry);
    return tokens.mint(key, callId, functionName, expiry, tokens.newNonce(state.incarnation));
  }

  /** Alias of generateToken, same argument order (as in the SDK). */
  createToolToken(functionName: string, callId: string): string {
    return this.generateToken(functionName, callId);
  }

  /**
   * validateToken with the reason: `{valid, reason}`, where reason is the service's (malformed,
   * function_mismatch, expired, lifetime_exceeded, bad_signature, call_id_mismatch, session_ended)
   * or the 400 code the service would give the input. In process; never throws.
   */
  checkToken(callId: string, functionName: string, token: string): tokens.TokenCheck {
    const code = tokens.inputError(callId, functionName, token);
    if (code !== null) return tokens.refused(code);
    const now = nowSecs();
    const verdict = tokens.verify(this.keys.candidates(), callId, functionName, token, now, this.maxTokenLifetimeSecs);
    if (verdict.reason === tokens.BAD_SIGNATURE) this.keys.missed(); // perhaps a rotation not seen yet
    if (!verdict.valid) return verdict;
    if (this.isEnded(callId)) return tokens.refused(tokens.SESSION_ENDED);
    if (this.endedCheckSecs > 0) this.watchChecked(callId, functionName, token);
    return verdict;
  }

  /** True when `token` was minted for this function of this call, has not expired, and its call was not ended here. */
  validateToken(callId: string, functionName: string, token: string): boolean {
    return this.checkToken(callId, functionName, token).valid;
  }

  /** validateToken with the SDK's other argument order. */
  validateToolToken(functionName: string, token: string, callId: string): boolean {
    return this.validateToken(callId, functionName, token);
  }

  /** The SDK's debug view of a token when debugMode is on; never checks the signature. */
  debugToken(token: string): tokens.DebugTokenResult {
    if (!this.debugMode) return { valid_format: false, error: tokens.DEBUG_DISABLED };
    return tokens.debug(token, nowSecs());
  }

  // -- metadata ------------------------------------------------------------------------------

  /**
   * What this instance knows of the session's metadata: what it wrote, merged over what it last
   * fetched; `{}` when nothing. Another instance's writes show after fetchSessionMetadata().
   */
  getSessionMetadata(sessionId: string): Record<string, unknown> {
    return { ...(this.sessionMetadata.get(sessionId) ?? {}) };
  }

  /**
   * The session's metadata as the service holds it, read after this instance's earlier writes for
   * the call have reached it; what getSessionMetadata answers from then on.
   */
  async fetchSessionMetadata(sessionId: string): Promise<Record<string, unknown>> {
    requireCallId(sessionId);
    const writesBefore = this.writes.get(sessionId) ?? 0;
    const answer = await this.outbox.enqueue(
      sessionId,
      `GET /sessions/${sessionId}/metadata`,
      () => this.transport.send('GET', `/sessions/${sessionId}/metadata`),
      true,
    );
    const metadata = answer.body['metadata'];
    if (!isPlainObject(metadata)) {
      throw new SessionServiceError('invalid_response', "the answer's metadata is not an object", answer.status);
    }
    if ((this.writes.get(sessionId) ?? 0) === writesBefore && !this.isEnded(sessionId)) {
      this.keepMetadata(sessionId, { ...metadata }); // no write of ours is queued behind this read
    }
    return { ...metadata };
  }

  /**
   * Merge metadata, as the SDK does: `(sessionId, {...})`, or `(sessionId, key, value)` which answers
   * true. Kept here at once and sent to the service in the background; false (nothing sent) for a
   * session ended here. Values must be JSON (the service hands them back exactly as sent).
   */
  setSessionMetadata(sessionId: string, metadataOrKey: Record<string, unknown>): void;
  setSessionMetadata(sessionId: string, key: string, value: unknown): boolean;
  setSessionMetadata(sessionId: string, metadataOrKey: Record<string, unknown> | string, value?: unknown): void | boolean {
    requireCallId(sessionId);
    const keyForm = typeof metadataOrKey === 'string';
    let patch: Record<string, unknown>;
    let body: Json;
    if (keyForm) {
      patch = { [metadataOrKey]: value };
      body = { key: metadataOrKey, value };
    } else if (isPlainObject(metadataOrKey)) {
      patch = { ...metadataOrKey };
      body = { metadata: patch };
    } else {
      throw new TypeError('setSessionMetadata(sessionId, {...}) or setSessionMetadata(sessionId, key, value)');
    }
    for (const key of Object.keys(patch)) {
      if (!limits.isMetadataKey(key)) {
        throw new SessionServiceError('invalid_metadata', `metadata keys are 1-${limits.MAX_METADATA_KEY_LENGTH} characters`, 400);
      }
    }
    const problem = jsonProblem(patch, 'metadata');
    if (problem !== null) throw new SessionServiceError('invalid_metadata', problem, 400);
    if (Buffer.byteLength(JSON.stringify(patch)) > limits.MAX_METADATA_BYTES) {
      throw new SessionServiceError('metadata_too_large', `a session's metadata is at most ${limits.MAX_METADATA_BYTES} bytes`, 413);
    }
    if (this.isEnded(sessionId)) {
      this.log.warn('metadata not written: the session was ended', { call_id: sessionId });
      return keyForm ? false : undefined;
    }
    this.keepMetadata(sessionId, { ...this.sessionMetadata.get(sessionId), ...patch });
    this.writes.set(sessionId, (this.writes.get(sessionId) ?? 0) + 1);
    this.background(sessionId, 'PATCH', `/sessions/${sessionId}/metadata`, body);
    return keyForm ? true : undefined;
  }

  /** Remove the session's metadata here and, in the background, at the service; true when this instance held some. */
  deleteSessionMetadata(sessionId: string): boolean {
    requireCallId(sessionId);
    const held = this.sessionMetadata.delete(sessionId);
    this.sessionTimestamps.delete(sessionId);
    if (!this.isEnded(sessionId)) {
      this.writes.set(sessionId, (this.writes.get(sessionId) ?? 0) + 1);
      this.background(sessionId, 'DELETE', `/sessions/${sessionId}/metadata`);
    }
    return held;
  }

  /** The SDK's cleanup of the metadata held here: entries older than maxAgeMs (default: the token lifetime). */
  cleanup(maxAgeMs?: number): void {
    const cutoff = Date.now() - (maxAgeMs ?? this.tokenExpirySecs * 1000);
    for (const [id, at] of this.sessionTimestamps) {
      if (at <= cutoff) {
        this.sessionMetadata.delete(id);
        this.sessionTimestamps.delete(id);
      }
    }
  }

  // -- lifecycle -----------------------------------------------------------------------------

  /** Background requests queued, sent, failed, dropped; calls held. */
  stats(): ManagerStats {
    return { ...this.outbox.stats(), calls: this.calls.size, ended: this.endedCalls.size };
  }

  /** Resolves once every background request made so far has been answered or given up (true), or at the timeout (false). */
  flush(timeoutMs?: number): Promise<boolean> {
    return this.outbox.flush(timeoutMs);
  }

  /**
   * Flush (up to timeoutMs, default 10 s), then stop: what is still queued is given up and logged,
   * the background key and ended-call checks stop. Minting and checking keep working.
   */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.endedTimer !== null) clearInterval(this.endedTimer);
    this.keys.close();
    if (this.closed) return;
    this.closed = true;
    if (!(await this.outbox.flush(timeoutMs))) this.outbox.abandon();
  }

  // -- inside --------------------------------------------------------------------------------

  /**
   * The call's state here, picking its incarnation on first use; queues a start whenever a token
   * expiring later than any announced so far is minted, so the session lives as long as its tokens.
   */
  private announce(callId: string, expiry: number): CallState {
    let state = this.calls.get(callId);
    if (state === undefined) {
      state = { incarnation: tokens.newIncarnation(), announcedUntil: 0 };
    } else {
      this.calls.delete(callId); // re-inserted below: the most recently used is the last to go
    }
    this.calls.set(callId, state);
    if (this.calls.size > MAX_CALLS) this.calls.delete(this.calls.keys().next().value as string);
    if (expiry > state.announcedUntil) {
      const margin = Math.max(0, Math.min(START_MARGIN_SECS, this.maxTokenLifetimeSecs - this.tokenExpirySecs));
      state.announcedUntil = expiry + margin;
      this.start(callId, state.incarnation, Math.max(limits.MIN_TOKEN_LIFETIME_SECS, expiry + margin - Math.floor(nowSecs())));
    }
    if (this.endedCheckSecs > 0) this.watchMinted(callId, state.incarnation, expiry);
    return state;
  }

  /** POST /sessions with the incarnation: starts the session, or has the active one accept it; a refusal that ends the call (endedBy) ends it here. */
  private start(callId: string, incarnation: string, lifetime: number): Promise<void> {
    const body: Json = {
      call_id: callId,
      incarnation,
      token_expiry_secs: Math.min(lifetime, this.maxTokenLifetimeSecs),
      restart: false,
    };
    const label = `POST /sessions ${callId}`;
    return this.outbox
      .enqueue(callId, label, () => this.transport.send('POST', '/sessions', body), true)
      .then(
        () => undefined,
        (error: unknown) => {
          if (this.endedBy(callId, error)) return;
          this.log.error('background request failed', { request: label, error: describeError(error) });
          const state = this.calls.get(callId);
          if (state?.incarnation === incarnation) state.announcedUntil = 0; // not started: the next mint sends it again
        },
      );
  }

  private background(callId: string, method: string, path: string, body?: Json): void {
    const label = `${method} ${path}`;
    this.outbox
      .enqueue(callId, label, () => this.transport.send(method, path, body), true)
      .catch((error: unknown) => {
        if (this.endedBy(callId, error)) return;
        this.log.error('background request failed', { request: label, error: describeError(error) });
      });
  }

  private isEnded(callId: string): boolean {
    const until = this.endedCalls.get(callId);
    if (until === undefined) return false;
    if (until > nowSecs()) return true;
    this.endedCalls.delete(callId);
    return false;
  }

  /** Refuse the call's tokens here for as long as any token minted before its end can live. */
  /** True when `error` is the service's word that the call's session is over, which ends the call here. */
  private endedBy(callId: string, error: unknown): boolean {
    if (!endsTheCall(error)) return false;
    this.log.warn('the session was ended elsewhere: its tokens are refused here from now on', { call_id: callId });
    this.markEnded(callId);
    return true;
  }

  private markEnded(callId: string): void {
    this.endedCalls.delete(callId);
    this.endedCalls.set(callId, nowSecs() + this.maxTokenLifetimeSecs);
    if (this.endedCalls.size > MAX_CALLS) {
      const oldest = this.endedCalls.keys().next().value as string;
      this.endedCalls.delete(oldest);
      this.log.warn('more ended calls than are held: the oldest is forgotten', { call_id: oldest });
    }
    this.calls.delete(callId);
    this.watched.delete(callId);
  }

  private keepMetadata(callId: string, metadata: Record<string, unknown>): void {
    this.sessionMetadata.delete(callId);
    this.sessionMetadata.set(callId, metadata);
    this.sessionTimestamps.delete(callId);
    this.sessionTimestamps.set(callId, Date.now());
    if (this.sessionMetadata.size > METADATA_CLEANUP_AT) this.cleanup();
    while (this.sessionMetadata.size > MAX_METADATA_ENTRIES) {
      const oldest = this.sessionMetadata.keys().next().value as string;
      this.sessionMetadata.delete(oldest);
      this.sessionTimestamps.delete(oldest);
    }
  }

  /** A call this manager checked a token of: watched until that token expires, its incarnation never kept. */
  private watchChecked(callId: string, functionName: string, token: string): void {
    const fields = tokens.parse(token);
    if (fields === null) return;
    const expiry = Number(fields.expiry);
    const seen = this.watched.get(callId);
    if (seen !== undefined) {
      seen.expiry = Math.max(seen.expiry, expiry);
      return;
    }
    this.keepWatch(callId, { incarnation: null, function: functionName, expiry, checking: false });
  }

  /** A call this manager minted for: watched with its own incarnation, which the check re-sends. */
  private watchMinted(callId: string, incarnation: string, expiry: number): void {
    const seen = this.watched.get(callId);
    if (seen !== undefined) {
      Object.assign(seen, { incarnation, expiry: Math.max(seen.expiry, expiry) });
      return;
    }
    this.keepWatch(callId, { incarnation, function: '', expiry, checking: false });
  }

  private keepWatch(callId: string, watch: Watch): void {
    this.watched.set(callId, watch);
    if (this.watched.size > MAX_CALLS) this.watched.delete(this.watched.keys().next().value as string);
  }

  /**
   * For each call with live tokens, a request the service answers 409 session_ended for an ended
   * call: the start again for calls minted for here, a mint (which writes nothing) for calls only
   * checked here.
   */
  private checkEnded(): void {
    const now = Math.floor(nowSecs());
    for (const [callId, watch] of this.watched) {
      if (watch.expiry < now || this.isEnded(callId)) {
        this.watched.delete(callId);
        continue;
      }
      if (watch.checking) continue;
      watch.checking = true;
      const asked =
        watch.incarnation === null
          ? this.probe(callId, watch.function)
          : this.start(callId, watch.incarnation, Math.max(limits.MIN_TOKEN_LIFETIME_SECS, watch.expiry - now));
      void asked.finally(() => {
        watch.checking = false;
      });
    }
  }

  /** POST /sessions/{id}/tokens for a call only checked here: 409 session_ended ends it here; the token minted is dropped. */
  private probe(callId: string, functionName: string): Promise<void> {
    const path = `/sessions/${callId}/tokens`;
    const label = `POST ${path}`;
    return this.outbox
      .enqueue(callId, label, () => this.transport.send('POST', path, { function: functionName }), true)
      .then(
        () => undefined,
        (error: unknown) => {
          if (!this.endedBy(callId, error) && !(error instanceof SessionServiceError && error.code === 'session_not_found')) {
            this.log.error('background request failed', { request: label, error: describeError(error) });
          }
        },
      );
  }
}

/**
 * The service's refusals that say this manager's session of the call is over: ended; or ended and
 * started again elsewhere, so its incarnation is retired (`incarnation_retired`, `restart_limit`).
 */
const ENDING_CODES: ReadonlySet<string> = new Set(['session_ended', 'incarnation_retired', 'restart_limit']);

function endsTheCall(error: unknown): boolean {
  return error instanceof SessionServiceError && error.status === 409 && ENDING_CODES.has(error.code);
}

/** Settings that would make the manager misbehave quietly (a timer at 0 ms, no request ever sent) are refused. */
function checkOptions(options: ManagerOptions): void {
  const positive = (name: keyof ManagerOptions, integer: boolean, orZero = false) => {
    const value = options[name];
    if (value === undefined) return;
    const ok = typeof value === 'number' && (integer ? Number.isSafeInteger(value) : Number.isFinite(value));
    if (!ok || (value as number) < 0 || ((value as number) === 0 && !orZero)) {
      throw new RangeError(`${name} must be ${integer ? 'an integer' : 'a number'} above 0${orZero ? ' (or 0)' : ''}, not ${String(value)}`);
    }
  };
  positive('maxTokenLifetimeSecs', true);
  positive('endedCheckSecs', false, true);
  positive('requestTimeoutMs', false);
  positive('retryForSecs', false, true);
  positive('maxPending', true);
  positive('concurrency', true);
}

function requireCallId(callId: unknown): asserts callId is string {
  if (!limits.isCallId(callId)) {
    throw new SessionServiceError('invalid_call_id', `call_id must be ${limits.CALL_ID_RULE}`, 400);
  }
}

function isSessionManager(value: unknown): value is { tokenExpirySecs: number } {
  if (value === null || typeof value !== 'object') return false;
  const manager = value as Record<string, unknown>;
  return (
    typeof manager['tokenExpirySecs'] === 'number' &&
    typeof manager['validateToken'] === 'function' &&
    typeof manager['createToolToken'] === 'function' &&
    typeof manager['createSession'] === 'function'
  );
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function secretsManagerFor(arn: string, options: ConnectOptions): Promise<SecretsManagerClient> {
  const fromArn = arn.startsWith('arn:') ? arn.split(':')[3] : undefined;
  const region = options.region ?? (fromArn || undefined) ?? (await configuredRegion());
  return new SecretsManagerClient({
    ...(region ? { region } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    maxAttempts: 3,
  });
}
