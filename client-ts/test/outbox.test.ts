/** The background sender on its own: order per call, bounds, retries, flush. */

import { afterEach, describe, expect, it, vi } from 'vitest';

import { SessionServiceError } from '../src/errors.js';
import { Outbox, type OutboxOptions } from '../src/outbox.js';
import { recordingLogger } from './support.js';

function outbox(options: Partial<OutboxOptions> = {}) {
  const logger = recordingLogger();
  return {
    logger,
    box: new Outbox({
      maxPending: 100,
      concurrency: 4,
      retryForMs: 60_000,
      backoffMs: 10,
      maxBackoffMs: 40,
      logger,
      ...options,
    }),
  };
}

const noAnswer = () => new SessionServiceError('unreachable', 'connection refused');
const refusal = () => new SessionServiceError('invalid_metadata', 'bad key', 400);

afterEach(() => {
  vi.useRealTimers();
});

describe('Outbox', () => {
  it('sends each call requests one at a time, in order, even across a retry', async () => {
    const { box } = outbox();
    const seen: string[] = [];
    let failOnce = true;
    const runs = ['start', 'patch-1', 'patch-2', 'end'].map((what) =>
      box.enqueue('call-a', what, async () => {
        seen.push(what);
        if (what === 'start' && failOnce) {
          failOnce = false;
          throw noAnswer();
        }
        return what;
      }),
    );
    expect(await Promise.all(runs)).toEqual(['start', 'patch-1', 'patch-2', 'end']);
    expect(seen).toEqual(['start', 'start', 'patch-1', 'patch-2', 'end']);
    expect(box.stats()).toEqual({ pending: 0, sent: 4, failed: 0, dropped: 0, retried: 1 });
  });

  it('runs different calls side by side, never more than its concurrency', async () => {
    const { box } = outbox({ concurrency: 3 });
    let running = 0;
    let most = 0;
    const jobs = Array.from({ length: 20 }, (_, i) =>
      box.enqueue(`call-${i % 7}`, `job-${i}`, async () => {
        running += 1;
        most = Math.max(most, running);
        await new Promise((done) => setTimeout(done, 1));
        running -= 1;
      }),
    );
    await Promise.all(jobs);
    expect(most).toBe(3);
    expect(box.stats().sent).toBe(20);
  });

  it('gives up a refused request at once, logs it, and goes on with the call', async () => {
    const { box, logger } = outbox();
    const refused = box.enqueue('call-a', 'PATCH bad', async () => {
      throw refusal();
    });
    const next = box.enqueue('call-a', 'PATCH good', async () => 'ok');
    await expect(refused).rejects.toMatchObject({ code: 'invalid_metadata' });
    expect(await next).toBe('ok');
    expect(box.stats()).toMatchObject({ sent: 1, failed: 1, retried: 0 });
    expect(logger.lines).toContainEqual(expect.objectContaining({ level: 'error', message: 'background request failed' }));
  });

  it('does not log what the caller asked to report itself', async () => {
    const { box, logger } = outbox();
    await expect(box.enqueue('c', 'quiet', async () => Promise.reject(refusal()), true)).rejects.toBeInstanceOf(SessionServiceError);
    expect(logger.lines).toEqual([]);
    expect(box.stats().failed).toBe(1);
  });

  it('waits as long as the service asks (Retry-After), within the retry time', async () => {
    vi.useFakeTimers();
    const { box } = outbox({ backoffMs: 10 });
    let tries = 0;
    const job = box.enqueue('c', 'throttled', async () => {
      tries += 1;
      if (tries === 1) throw new SessionServiceError('gateway_throttled', 'slow down', 429, 5000);
      return 'done';
    });
    await vi.advanceTimersByTimeAsync(4999);
    expect(tries).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await job).toBe('done');
    expect(tries).toBe(2);
  });

  it('gives up a request that finds no answer for its whole retry time, with backoff between tries', async () => {
    vi.useFakeTimers();
    const { box, logger } = outbox({ retryForMs: 1000, backoffMs: 100, maxBackoffMs: 400 });
    const at: number[] = [];
    const job = box.enqueue('c', 'POST /sessions c', async () => {
      at.push(Date.now());
      throw noAnswer();
    });
    const settled = expect(job).rejects.toMatchObject({ code: 'unreachable' });
    await vi.advanceTimersByTimeAsync(2000);
    await settled;
    const waits = at.slice(1).map((t, i) => t - (at[i] as number));
    expect(waits.slice(0, 3)).toEqual([100, 200, 400]);
    expect(Math.max(...waits)).toBe(400);
    expect(at[at.length - 1]! - at[0]!).toBeLessThanOrEqual(1000);
    expect(box.stats()).toMatchObject({ failed: 1, pending: 0 });
    expect(logger.lines.some((line) => line.fields?.['request'] === 'POST /sessions c')).toBe(true);
  });

  it('refuses what exceeds its bound, counted and logged, and takes work again once drained', async () => {
    const { box, logger } = outbox({ maxPending: 2, concurrency: 1 });
    let release: () => void = () => {};
    const gate = new Promise<void>((done) => {
      release = done;
    });
    const first = box.enqueue('a', 'one', () => gate);
    const second = box.enqueue('b', 'two', async () => 2);
    await expect(box.enqueue('c', 'three', async () => 3)).rejects.toMatchObject({ code: 'outbox_full' });
    expect(box.stats()).toMatchObject({ pending: 2, dropped: 1 });
    expect(logger.lines).toContainEqual(expect.objectContaining({ level: 'error', message: expect.stringContaining('full') }));
    release();
    await first;
    expect(await second).toBe(2);
    expect(await box.enqueue('c', 'four', async () => 4)).toBe(4);
  });

  it('flush resolves once everything is answered; abandon gives up the rest', async () => {
    const { box } = outbox({ concurrency: 1 });
    expect(await box.flush()).toBe(true);
    const stuck = box.enqueue('a', 'stuck', () => new Promise<void>(() => {}));
    const queued = box.enqueue('a', 'behind', async () => 'never');
    const waiting = box.enqueue('b', 'other call', async () => 'never either');
    expect(await box.flush(20)).toBe(false);
    box.abandon();
    await expect(queued).rejects.toMatchObject({ code: 'closed' });
    await expect(waiting).rejects.toMatchObject({ code: 'closed' });
    await expect(box.enqueue('c', 'late', async () => 1)).rejects.toMatchObject({ code: 'closed' });
    expect(box.stats()).toMatchObject({ pending: 1, failed: 2 });
    void stuck;
  });
});
