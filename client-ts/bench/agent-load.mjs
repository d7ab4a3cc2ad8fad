#!/usr/bin/env node
// A TypeScript agent under concurrent calls: examples/weather-agent.mjs served twice, each in a node
// process of its own, once with the client installed (the key read through SWAIG_SECRET_ARN) and
// once with the SDK's own SessionManager (SWAIG_SDK_ONLY). This process plays SignalWire: per round
// and variant, CALLS calls at once, each fetching its SWML with SignalWire's body
// ({"call": {"call_id": ...}}) and then calling two tools with the tokens from it, one after the
// other as the AI does. The variants take turns, the order swapped every round.
//
//   SWAIG_API_URL=... SWAIG_SECRET_ARN=... node bench/agent-load.mjs [--calls 24] [--rounds 10]
//
// Prints one JSON line: per variant, each round's wall time and every render's and tool call's
// latency (ms), and the client's background requests as its process counted them.

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { AUTH, ROUTE } from '../examples/weather-agent.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { calls: { type: 'string', default: '24' }, rounds: { type: 'string', default: '10' } } });
const CALLS = Number(values.calls);
// Untimed, between rounds: the emulated service, at the lowest CPU priority on this machine, catches up
// with the background requests of the round before, as a service on its own hardware would.
const PAUSE_MS = 500;
const ROUNDS = Number(values.rounds);
const authorization = 'Basic ' + Buffer.from(AUTH.join(':')).toString('base64');
const TOOLS = [
  ['get_weather', 'Sunny in'],
  ['get_time', 'Noon in'],
];

/** An agent process; its base URL once it serves, and how to stop it (its last stderr line: the client's stats). */
async function startAgent(extraEnv) {
  // No PORT: the agent then takes a free port, whatever PORT the caller has (make exports 3000).
  const { PORT: _callersPort, ...env } = { ...process.env, ...extraEnv };
  const child = spawn(process.execPath, [join(here, '..', 'examples', 'weather-agent.mjs')], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the agent exited (${code}): ${stderr}`)));
  });
  return {
    base: `http://127.0.0.1:${JSON.parse(line).port}`,
    async stop() {
      const exited = new Promise((done) => child.once('exit', done));
      child.stdin.end();
      await exited;
      const stats = stderr.split('\n').find((l) => l.startsWith('weather-agent: '));
      return stats ? JSON.parse(stats.slice('weather-agent: '.length)) : null;
    },
  };
}

async function post(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status !== 200) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** One call: its SWML, then two tools with its tokens. Latencies in ms; throws unless each tool ran. */
async function oneCall(base, renders, tools) {
  const callId = randomUUID();
  let started = performance.now();
  const swml = await post(`${base}${ROUTE}`, {
    call: { call_id: callId, from: '+15551230000', to: '+15559870000', direction: 'inbound' },
  });
  renders.push(performance.now() - started);
  const ai = swml.sections.main.find((verb) => 'ai' in verb).ai;
  const urls = Object.fromEntries(ai.SWAIG.functions.map((fn) => [fn.function, new URL(fn.web_hook_url)]));
  for (const [name, expected] of TOOLS) {
    const token = urls[name].searchParams.get('__token');
    started = performance.now();
    const answer = await post(`${base}${ROUTE}/swaig?__token=${encodeURIComponent(token)}`, {
      function: name,
      argument: { parsed: [{ city: 'Paris' }] },
      call_id: callId,
    });
    tools.push(performance.now() - started);
    if (!String(answer.response).startsWith(expected)) throw new Error(`${name} did not run: ${JSON.stringify(answer)}`);
  }
}

async function round(base, sample) {
  const started = performance.now();
  await Promise.all(Array.from({ length: CALLS }, () => oneCall(base, sample.render, sample.tool)));
  sample.wall.push(performance.now() - started);
}

const agents = {
  sdk: await startAgent({ SWAIG_SDK_ONLY: '1' }),
  client: await startAgent({}),
};
const samples = Object.fromEntries(Object.keys(agents).map((name) => [name, { wall: [], render: [], tool: [] }]));
try {
  for (const agent of Object.values(agents)) await round(agent.base, { wall: [], render: [], tool: [] }); // warm-up
  for (let i = 0; i < ROUNDS; i++) {
    const order = i % 2 === 0 ? ['sdk', 'client'] : ['client', 'sdk'];
    for (const name of order) {
      await round(agents[name].base, samples[name]);
      await new Promise((done) => setTimeout(done, PAUSE_MS));
    }
  }
} finally {
  const stats = {};
  for (const [name, agent] of Object.entries(agents)) stats[name] = await agent.stop();
  process.stdout.write(JSON.stringify({ calls: CALLS, rounds: ROUNDS, tools_per_call: TOOLS.length, samples, client_stats: stats.client }) + '\n');
}
