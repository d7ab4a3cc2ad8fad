/**
 * Requests that reach the service in the background: per call in the order they were made, a few
 * calls at a time, retried with backoff, bounded in number, flushed on close.
 *
 * The agent never waits for them: a session's start and its metadata writes are queued here and
 * the caller gets its answer at once. A failure is logged and counted, never dropped silently.
 */

import { SessionServiceError } from './errors.js';
import type { Logger } from './log.js';
import { isRetryable } from './transport.js';

export interface OutboxOptions {
  /** Requests queued or under way, all calls together; beyond it a new one is refused (and counted). */
  maxPending: number;
  /** Calls whose requests run at the same time. */
  concurrency: number;
  /** How long one request keeps being retried before it is given up (ms). */
  retryForMs: number;
  /** The first retry's wait; each next one doubles, up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  logger: Logger;
  now?: () => number;
}

export interface OutboxStats {
  /** Requests queued or under way. */
  pending: number;
  /** Requests the service answered with success. */
  sent: number;
  /** Requests given up: refused by the service, or still failing when their retry time ran out. */
  failed: number;
  /** Requests never queued because the outbox was full. */
  dropped: number;
  /** Attempts that failed and were tried again. */
  retried: number;
}

interface Job {
  label: string;
  run: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  firstAt: number;
  attempts: number;
  quiet: boolean;
  timer?: NodeJS.Timeout | undefined; // set while it waits to be tried again
}

interface Lane {
  jobs: Job[];
  busy: boolean; // its head is running or waiting to be retried
}

export class Outbox {
  private readonly lanes = new Map<string, Lane>();
  private readonly ready: string[] = []; // lanes whose head may start, in the order they became ready
  private running = 0;
  private closed = false;
  private pumping: NodeJS.Immediate | null = null;
  private pending = 0;
  private idle: Array<() => void> = [];
  private readonly counts = { sent: 0, failed: 0, dropped: 0, retried: 0 };
  private readonly now: () => number;

  constructor(private readonly options: OutboxOptions) {
    this.now = options.now ?? Date.now;
  }

  stats(): OutboxStats {
    return { pending: this.pending, ...this.counts };
  }

  /**
   * Queue `run` behind the call's earlier requests. The promise settles with its result, or with the
   * error that made it give up; `quiet` leaves the logging of that error to the caller. Refused
   * (SessionServiceError `outbox_full`) when the outbox holds maxPending requests.
   */
  enqueue<T>(lane: string, label: string, run: () => Promise<T>, quiet = false): Promise<T> {
    if (this.closed) {
      return Promise.reject(new SessionServiceError('closed', `${label}: the client was closed`));
    }
    if (this.pending >= this.options.maxPending) {
      this.counts.dropped += 1;
      this.options.logger.error('background request dropped: the outbox is full', {
        request: label,
        pending: this.pending,
      });
      return Promise.reject(
        new SessionServiceError('outbox_full', `${label}: ${this.pending} requests are already waiting`),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const job: Job = {
        label,
        run,
        resolve: resolve as (value: unknown) => void,
        reject,
        firstAt: this.now(),
        attempts: 0,
        quiet,
      };
      this.pending += 1;
      let queue = this.lanes.get(lane);
      if (queue === undefined) {
        queue = { jobs: [], busy: false };
        this.lanes.set(lane, queue);
      }
      queue.jobs.push(job);
      if (!queue.busy && queue.jobs.length === 1) this.ready.push(lane);
      this.pumpSoon();
    });
  }

  /** Resolves once nothing is queued or under way (true), or after `timeoutMs` (false). */
  flush(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (this.pending === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve(true);
      };
      this.idle.push(done);
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          this.idle = this.idle.filter((waiter) => waiter !== done);
          resolve(false);
        }, timeoutMs);
      }
    });
  }

  /**
   * Give up what is still queued or waiting for a retry (each logged and counted as failed), and
   * accept nothing more; a request under way finishes. Used once flush() ran out of time.
   */
  abandon(): void {
    this.closed = true;
    for (const [name, lane] of this.lanes) {
      const head = lane.jobs[0];
      const underWay = lane.busy && head !== undefined && head.timer === undefined;
      for (const job of underWay ? lane.jobs.slice(1) : lane.jobs) {
        if (job.timer !== undefined) clearTimeout(job.timer);
        this.giveUp(job, new SessionServiceError('closed', 'the client was closed with this request still queued'));
        this.settle();
      }
      lane.jobs = underWay ? lane.jobs.slice(0, 1) : [];
      if (lane.jobs.length === 0) this.lanes.delete(name);
    }
    this.ready.length = 0;
  }

  /**
   * Start what may start once the caller's own work is done: a render or a token check that queued a
   * request answers its HTTP request before any of this one's sending work runs on the event loop.
   */
  private pumpSoon(): void {
    this.pumping ??= setImmediate(() => {
      this.pumping = null;
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.options.concurrency && this.ready.length > 0) {
      const name = this.ready.shift() as string;
      const lane = this.lanes.get(name);
      const job = lane?.jobs[0];
      if (lane === undefined || job === undefined) continue;
      lane.busy = true;
      this.running += 1;
      job.attempts += 1;
      job.run().then(
        (value) => {
          this.counts.sent += 1;
          job.resolve(value);
          this.finish(name, lane);
        },
        (error: unknown) => this.failed(name, lane, job, error),
      );
    }
  }

  private failed(name: string, lane: Lane, job: Job, error: unknown): void {
    this.running -= 1;
    const elapsed = this.now() - job.firstAt;
    if (!this.closed && isRetryable(error) && elapsed < this.options.retryForMs) {
      const backoff = Math.min(this.options.maxBackoffMs, this.options.backoffMs * 2 ** (job.attempts - 1));
      const asked = error instanceof SessionServiceError ? (error.retryAfterMs ?? 0) : 0;
      const wait = Math.min(Math.max(backoff, asked), Math.max(0, this.options.retryForMs - elapsed));
      this.counts.retried += 1;
      job.timer = setTimeout(() => {
        job.timer = undefined;
        this.ready.push(name);
        this.pump();
      }, wait); // kept referenced: a process ending on its own waits for its retries
      this.pump();
      return;
    }
    this.giveUp(job, error);
    this.running += 1; // finish() counts it out
    this.finish(name, lane);
  }

  private giveUp(job: Job, error: unknown): void {
    this.counts.failed += 1;
    if (!job.quiet) {
      this.options.logger.error('background request failed', {
        request: job.label,
        attempts: job.attempts,
        error: error instanceof Error ? error.message : String(error),
      });
    }
    job.reject(error);
  }

  private finish(name: string, lane: Lane): void {
    this.running -= 1;
    lane.jobs.shift();
    lane.busy = false;
    if (lane.jobs.length > 0) this.ready.push(name);
    else this.lanes.delete(name);
    this.settle();
    this.pump();
  }

  private settle(): void {
    this.pending -= 1;
    if (this.pending === 0) {
      const waiters = this.idle;
      this.idle = [];
      for (const waiter of waiters) waiter();
    }
  }
}
