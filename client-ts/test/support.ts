/** Helpers the tests share: the environment, the local stack's AWS and HTTP, the SDK copy. */

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { inject } from 'vitest';

import type { Logger } from '../src/log.js';
import { type ConnectOptions, RemoteSessionManager } from '../src/manager.js';
import type { TestEnv } from './env-names.js';

export function env(): TestEnv {
  return inject('env');
}

/** A Secrets Manager client for the local stack's emulated account (never real AWS). */
export function secretsManager(): SecretsManagerClient {
  return new SecretsManagerClient({
    endpoint: env().awsEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing', sessionToken: 'testing' },
  });
}

/** A manager on the local stack, keys read through the secret's ARN. */
export function connect(options: Partial<ConnectOptions> = {}): Promise<RemoteSessionManager> {
  return RemoteSessionManager.connect(env().baseUrl, {
    secretArn: env().secretArn,
    secretsManager: secretsManager(),
    ...options,
  });
}

export function callId(prefix = 'call'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

export interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/** One request straight to the service, as another instance or an operator would make it. */
export async function service(method: string, path: string, body?: unknown): Promise<Reply> {
  const response = await fetch(env().baseUrl + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The service's verdict on a token. */
export async function serviceVerdict(call: string, fn: string, token: string): Promise<Record<string, unknown>> {
  return (await service('POST', '/tokens/validate', { call_id: call, function: fn, token })).body;
}

/** Polls until `check` holds (a bound to fail by, not a timing assertion). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

/** A logger that keeps what it is told, for tests that check a failure is reported. */
export function recordingLogger(): Logger & { lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> } {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const keep = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push({ level, message, ...(fields ? { fields } : {}) });
  };
  return { lines, debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') };
}

/** A key of the rotation's shape. */
export function strongKey(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(64), (byte) => alphabet[byte % alphabet.length]).join('');
}

// -- the SDK copy ------------------------------------------------------------------------------

/** What the tests use of @signalwire/sdk (loaded from the compiled snapshot, which has its own types). */
export interface Sdk {
  AgentBase: new (options: Record<string, unknown>) => AgentBase;
  SessionManager: new (tokenExpirySecs?: number, secretKey?: string) => { tokenExpirySecs: number; validateToken(c: string, f: string, t: string): boolean };
  FunctionResult: new (text: string) => unknown;
}

export interface AgentBase {
  setPromptText(text: string): unknown;
  setPostPrompt(text: string): unknown;
  defineTool(options: Record<string, unknown>): unknown;
  getApp(): { fetch: (request: Request) => Response | Promise<Response> };
  onSwmlRequest: unknown;
}

export async function sdk(): Promise<Sdk> {
  return (await import(pathToFileURL(join(env().sdkDir, 'dist', 'index.js')).href)) as Sdk;
}
