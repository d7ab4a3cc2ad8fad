/**
 * One HTTP exchange with the service: signed when it must be, bounded in time and size, and failing
 * fast behind a circuit breaker after consecutive failures. Retrying is the caller's (the outbox's).
 */

import { SessionServiceError } from './errors.js';
import type { Signer } from './signing.js';

// API Gateway's own answers carry only {"message": ...}: named so that, say, its 404 (no such
// route) is never taken for the service's 404 session_not_found.
const GATEWAY_CODES: Readonly<Record<number, string>> = {
  403: 'gateway_forbidden',
  404: 'gateway_not_found',
  413: 'gateway_request_too_large',
  429: 'gateway_throttled',
  500: 'gateway_internal_error',
  503: 'gateway_unavailable',
  504: 'gateway_timeout',
};
// No verdict came back, so the same request may well pass later (as the Python client judges it).
// Everything else is the service's or the gateway's answer about this request, final.
const RETRY_CODES = new Set(['unreachable', 'timeout', 'circuit_open', 'gateway_internal_error']);
const RETRY_STATUSES = new Set([429, 502, 503, 504]);

export function isRetryable(error: unknown): boolean {
  if (!(error instanceof SessionServiceError) || error.code === 'invalid_response') return false;
  return error.status === null || RETRY_STATUSES.has(error.status) || RETRY_CODES.has(error.code);
}

export interface TransportOptions {
  signer: Signer | null;
  /** One exchange's deadline, connecting and reading the answer together (ms). */
  timeoutMs: number;
  /** Answers larger than this are refused as invalid_response, never read whole. */
  maxAnswerBytes: number;
  /** Consecutive failures that open the breaker, and how long it then fails fast (ms). */
  breakerFailures: number;
  breakerCoolDownMs: number;
  fetch?: typeof fetch;
  now?: () => number;
}

export type Json = Record<string, unknown>;

export interface Answer {
  status: number;
  body: Json;
}

export class Transport {
  private failures = 0;
  private openUntil = 0;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  readonly base: URL;

  constructor(
    baseUrl: string,
    private readonly options: TransportOptions,
  ) {
    this.base = new URL(baseUrl.endsWith('/') ? baseUrl : baseUrl + '/');
    this.fetch = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
  }

  get signed(): boolean {
    return this.options.signer !== null;
  }

  /** How long the breaker still fails fast (ms); 0 when closed. */
  openFor(): number {
    return Math.max(0, this.openUntil - this.now());
  }

  /** One request; the status and JSON object of a 2xx answer, else SessionServiceError. */
  async send(method: string, path: string, body?: Json): Promise<Answer> {
    if (this.openFor() > 0) {
      throw new SessionServiceError('circuit_open', `${method} ${path}: failing fast after consecutive failures`);
    }
    try {
      const answer = await this.exchange(method, path, body);
      this.failures = 0;
      return answer;
    } catch (error) {
      if (isRetryable(error)) {
        this.failures += 1;
        if (this.failures >= this.options.breakerFailures) {
          this.openUntil = this.now() + this.options.breakerCoolDownMs;
          this.failures = 0;
        }
      } else {
        this.failures = 0; // the service answered with a verdict: it is there
      }
      throw error;
    }
  }

  private async exchange(method: string, path: string, body: Json | undefined): Promise<Answer> {
    const url = new URL(path.replace(/^\//, ''), this.base);
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (data !== undefined) headers['content-type'] = 'application/json';
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    let response: Response;
    let text: string;
    try {
      const signed = this.options.signer ? await this.options.signer.sign({ method, url, headers, body: data }) : headers;
      response = await this.fetch(url, {
        method,
        headers: signed,
        redirect: 'manual',
        signal,
        ...(data === undefined ? {} : { body: data }),
      });
      text = await readCapped(response, this.options.maxAnswerBytes);
    } catch (error) {
      if (error instanceof SessionServiceError) throw error;
      if (signal.aborted) {
        throw new SessionServiceError('timeout', `${method} ${url.pathname}: no answer within ${this.options.timeoutMs} ms`);
      }
      throw new SessionServiceError('unreachable', `${method} ${url.pathname}: ${describe(error)}`);
    }
    let answer: unknown = null;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = null;
    }
    const json: Json = answer !== null && typeof answer === 'object' && !Array.isArray(answer) ? (answer as Json) : {};
    const status = response.status;
    if (status >= 200 && status < 300) {
      if (Object.keys(json).length === 0) {
        // Not the service (a wrong base URL, a proxy's page): no verdict can be read from it.
        throw new SessionServiceError('invalid_response', `${method} ${url.pathname}: not a JSON object`, status);
      }
      return { status, body: json };
    }
    const error = json['error'];
    const message = json['message'];
    let code: string;
    if (typeof error === 'string') code = error;
    else if (typeof message === 'string' && Object.keys(json).length === 1) code = GATEWAY_CODES[status] ?? `gateway_${status}`;
    else code = `http_${status}`; // a redirect too: the service never sends one
    throw new SessionServiceError(
      code,
      typeof message === 'string' ? message : response.statusText || 'request failed',
      status,
      retryAfter(response.headers.get('retry-after'), this.now()),
    );
  }
}

/** The body as text, refused once it exceeds `limit` bytes (announced or read). */
async function readCapped(response: Response, limit: number): Promise<string> {
  const tooLarge = () =>
    new SessionServiceError('invalid_response', `the answer is larger than ${limit} bytes`, response.status);
  const announced = Number(response.headers.get('content-length') ?? '0');
  if (announced > limit) {
    await response.body?.cancel();
    throw tooLarge();
  }
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Retry-After as milliseconds from now: delta-seconds or an HTTP date; null when absent or unreadable. */
function retryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
}
