/** The manager with a stand-in for the network: what it sends, when, and what it does when it cannot. */

import { describe, expect, it } from 'vitest';

import { StaticKeys } from '../src/keys.js';
import { type ManagerOptions, RemoteSessionManager } from '../src/manager.js';
import * as tokens from '../src/tokens.js';
import { recordingLogger, strongKey } from './support.js';

interface Sent {
  method: string;
  path: string;
  body: Record<string, unknown> | null;
}

/** A fetch that records each request and answers it when `release()` is called (all at once). */
function gatedFetch() {
  const sent: Sent[] = [];
  let waiting: Array<() => void> = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    sent.push({ method: init?.method ?? 'GET', path: url.pathname, body: init?.body ? JSON.parse(String(init.body)) : null });
    await new Promise<void>((done) => waiting.push(done));
    return new Response(JSON.stringify({ call_id: 'x', expires_at: 1 }), { status: 201, headers: { 'content-type': 'application/json' } });
  }) as typeof globalThis.fetch;
  return {
    fetch,
    sent,
    release() {
      const now = waiting;
      waiting = [];
      for (const done of now) done();
    },
  };
}

function manager(options: ManagerOptions): RemoteSessionManager {
  return new RemoteSessionManager('http://127.0.0.1:1/stage', { keys: new StaticKeys(strongKey()), signer: null }, options);
}

const tick = () => new Promise((done) => setImmediate(done));

describe('the manager, offline', () => {
  it('answers a render before it sends anything, and starts each call once with its incarnation and lifetime', async () => {
    const net = gatedFetch();
    const m = manager({ fetch: net.fetch, tokenExpirySecs: 600 });
    const first = m.createToolToken('a', 'call-1');
    const second = m.createToolToken('b', 'call-1');
    expect(net.sent).toEqual([]); // nothing sent within the render's own turn
    await tick();
    expect(net.sent).toEqual([
      {
        method: 'POST',
        path: '/stage/sessions',
        body: { call_id: 'call-1', incarnation: tokens.parse(first)?.nonce.slice(0, 8), token_expiry_secs: 660, restart: false },
      },
    ]);
    expect(tokens.parse(second)?.nonce.slice(0, 8)).toBe(tokens.parse(first)?.nonce.slice(0, 8));
    net.release();
    expect(await m.flush(1000)).toBe(true);
    expect(m.stats()).toMatchObject({ sent: 1, pending: 0 });
  });

  it('sends a start again when the outbox had no room for it', async () => {
    const net = gatedFetch();
    const logger = recordingLogger();
    const m = manager({ fetch: net.fetch, maxPending: 1, logger });
    m.createToolToken('a', 'call-a'); // its start waits at the gate, filling the outbox
    m.createToolToken('a', 'call-b'); // no room: dropped, logged
    await tick();
    expect(m.stats()).toMatchObject({ dropped: 1, pending: 1 });
    expect(logger.lines.some((line) => line.level === 'error' && line.message.includes('full'))).toBe(true);
    net.release();
    expect(await m.flush(1000)).toBe(true);
    m.createToolToken('a', 'call-b'); // the call was not started: this mint sends its start
    await tick();
    net.release();
    expect(await m.flush(1000)).toBe(true);
    expect(net.sent.map((s) => s.body?.['call_id'])).toEqual(['call-a', 'call-b']);
  });

  it('refuses settings that would make it misbehave quietly', () => {
    for (const bad of [
      { maxTokenLifetimeSecs: 0 },
      { maxTokenLifetimeSecs: 1.5 },
      { concurrency: 0 },
      { maxPending: -1 },
      { requestTimeoutMs: Number.NaN },
      { endedCheckSecs: -1 },
      { tokenExpirySecs: 100, maxTokenLifetimeSecs: 50 },
    ] as ManagerOptions[]) {
      expect(() => manager(bad), JSON.stringify(bad)).toThrow(RangeError);
    }
    expect(() => manager({ endedCheckSecs: 0, retryForSecs: 0 })).not.toThrow();
  });
});
