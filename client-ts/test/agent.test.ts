/**
 * A real @signalwire/sdk AgentBase, served on a port, with the client installed: SignalWire's SWML
 * request, then the AI's SWAIG calls with the tokens from it, against the local stack.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AUTH, ROUTE, serveAgent, weatherAgent } from '../examples/weather-agent.mjs';
import { RemoteSessionManager } from '../src/manager.js';
import * as tokens from '../src/tokens.js';
import { callId, connect, eventually, service, serviceVerdict, strongKey } from './support.js';

const REFUSED = 'The security token for this function is invalid or expired';
const authorization = 'Basic ' + Buffer.from(AUTH.join(':')).toString('base64');

interface Served {
  port: number;
  close(): Promise<void>;
}

/** SignalWire's SWML request for a call: the call's id is in `call`, not at the top. */
async function fetchSwml(base: string, call: string): Promise<Record<string, string>> {
  const response = await fetch(`${base}${ROUTE}`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify({ call: { call_id: call, from: '+15551230000', to: '+15559870000', direction: 'inbound' } }),
  });
  expect(response.status).toBe(200);
  const swml = (await response.json()) as { sections: { main: Array<Record<string, any>> } };
  const ai = swml.sections.main.find((verb) => 'ai' in verb)?.['ai'];
  const found: Record<string, string> = {};
  for (const fn of ai.SWAIG.functions as Array<{ function: string; web_hook_url: string }>) {
    found[fn.function] = new URL(fn.web_hook_url).searchParams.get('__token') ?? '';
  }
  found['post_prompt'] = new URL(ai.post_prompt_url as string).searchParams.get('__token') ?? '';
  return found;
}

/** The AI's SWAIG call: the function, its argument as SignalWire sends it, the call id; the token in the URL. */
async function callTool(base: string, fn: string, token: string, call: string, args: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${base}${ROUTE}/swaig?__token=${encodeURIComponent(token)}`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify({ function: fn, argument: { parsed: [args] }, call_id: call }),
  });
  expect(response.status).toBe(200);
  return String(((await response.json()) as { response: unknown }).response);
}

describe('an AgentBase with the client installed', () => {
  let manager: RemoteSessionManager;
  let served: Served;
  let ran: Record<string, number>;
  let base: string;

  beforeAll(async () => {
    manager = await connect();
    const made = weatherAgent({ sessions: manager });
    manager.install(made.agent);
    ran = made.ran;
    served = await serveAgent(made.agent);
    base = `http://127.0.0.1:${served.port}`;
  });

  afterAll(async () => {
    await served.close();
    await manager.close();
  });

  it('renders tokens for the call SignalWire names, with the agent lifetime, that the service accepts', async () => {
    const call = callId();
    const minted = await fetchSwml(base, call);
    expect(Object.keys(minted).sort()).toEqual(['get_time', 'get_weather', 'hang_up', 'post_prompt', 'recall', 'remember']);
    const now = Math.floor(Date.now() / 1000);
    for (const [fn, token] of Object.entries(minted)) {
      const fields = tokens.parse(token);
      expect(fields?.callId).toBe(call);
      expect(fields?.function).toBe(fn);
      expect(Number(fields?.expiry) - now).toBeGreaterThan(3500); // AgentBase's 3600 s, carried over
    }
    expect(manager.tokenExpirySecs).toBe(3600);
    expect(await manager.flush(20_000)).toBe(true);
    for (const [fn, token] of Object.entries(minted)) expect(await serviceVerdict(call, fn, token)).toEqual({ valid: true });
  });

  it('runs a tool called with its token, and nothing for a forged, borrowed or foreign token', async () => {
    const call = callId();
    const minted = await fetchSwml(base, call);
    const weather = minted['get_weather'] as string;
    expect(await callTool(base, 'get_weather', weather, call, { city: 'Paris' })).toBe('Sunny in Paris');
    expect(ran['get_weather']).toBe(1);
    const now = Math.floor(Date.now() / 1000);
    const refused = [
      ['get_weather', tokens.mint(strongKey(), call, 'get_weather', now + 60), call], // forged: another key
      ['get_time', weather, call], // another function's token
      ['get_weather', weather, callId()], // another call's
      ['get_weather', `${weather.slice(0, -3)}x==`, call], // tampered
      ['get_weather', 'not-a-token', call],
    ] as const;
    for (const [fn, token, asCall] of refused) expect(await callTool(base, fn, token, asCall)).toContain(REFUSED);
    expect(ran['get_weather']).toBe(1);
    expect(ran['get_time']).toBe(0);
  });

  it('shares metadata through the service, and an ended call runs no more tools', async () => {
    const call = callId();
    const minted = await fetchSwml(base, call);
    expect(await callTool(base, 'remember', minted['remember'] as string, call, { key: 'city', value: 'Oslo' })).toBe('Noted');
    expect(await callTool(base, 'recall', minted['recall'] as string, call)).toBe('{"city":"Oslo"}');
    expect((await service('GET', `/sessions/${call}/metadata`)).body['metadata']).toEqual({ city: 'Oslo' });
    expect(await callTool(base, 'hang_up', minted['hang_up'] as string, call)).toBe('Goodbye');
    const before = ran['get_weather'];
    expect(await callTool(base, 'get_weather', minted['get_weather'] as string, call, { city: 'Rome' })).toContain(REFUSED);
    expect(ran['get_weather']).toBe(before);
    await eventually(async () => (await serviceVerdict(call, 'get_time', minted['get_time'] as string))['reason'] === 'session_ended', 'the end reaches the service');
  });
});

describe('the SDK on its own, for comparison', () => {
  it('renders tokens for a random id when SignalWire names the call only in `call`, which the install fixes', async () => {
    const { agent } = weatherAgent();
    const served = await serveAgent(agent);
    try {
      const call = callId();
      const minted = await fetchSwml(`http://127.0.0.1:${served.port}`, call);
      expect(tokens.parse(minted['get_weather'])?.callId).not.toBe(call);
    } finally {
      await served.close();
    }
  });
});

describe('install() and the call id of SignalWire\'s request', () => {
  it("keeps the agent's own onSwmlRequest, installs once, and adopts only a call id by the service's rule", async () => {
    const { AgentBase } = await import('@signalwire/sdk');
    const seen: unknown[] = [];
    class Greeter extends AgentBase {
      override onSwmlRequest(rawData: Record<string, unknown>) {
        seen.push(rawData['call_id']);
        return { params: { greeting: 'hi' } };
      }
    }
    const agent = new Greeter({ name: 'greeter', route: ROUTE, basicAuth: AUTH as [string, string], suppressLogs: true });
    agent.setPromptText('Greet.');
    agent.setPostPrompt('Summarize.');
    agent.defineTool({ name: 'get_weather', description: 'w', handler: () => ({ response: 'x' }), secure: true });
    const manager = await connect();
    manager.install(agent);
    manager.install(agent); // a second install wraps nothing twice
    const served = await serveAgent(agent);
    const base = `http://127.0.0.1:${served.port}`;
    try {
      const call = callId();
      expect(tokens.parse((await fetchSwml(base, call))['get_weather'])?.callId).toBe(call);
      expect(seen).toEqual([call]); // the agent's hook ran once, seeing the adopted id
      for (const bad of ['bad/id', 'a'.repeat(129), '..']) {
        expect(tokens.parse((await fetchSwml(base, bad))['get_weather'])?.callId).not.toBe(bad);
      }
      const response = await fetch(`${base}${ROUTE}`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body: JSON.stringify({ call_id: 'top-level', call: { call_id: 'nested' } }),
      });
      const swml = JSON.stringify(await response.json());
      expect(swml).toContain('"greeting":"hi"'); // the agent's own modifications still apply
      const token = /__token=([^"&]+)/.exec(swml)?.[1] as string;
      expect(tokens.parse(decodeURIComponent(token))?.callId).toBe('top-level');
    } finally {
      await served.close();
      await manager.close();
    }
  });
});
