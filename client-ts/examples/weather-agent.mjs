// A @signalwire/sdk agent on the SWAIG session service: the tests, the Python interop test and the
// benchmark serve this one. Run on its own:
//
//   SWAIG_API_URL=https://<api-id>.execute-api.<region>.amazonaws.com/<stage> \
//   SWAIG_SECRET_ARN=arn:aws:secretsmanager:... node examples/weather-agent.mjs
//
// Prints one JSON line, {"port": ...}, once it serves; stops (flushing the client) when its standard
// input closes or on SIGTERM. SWAIG_SDK_ONLY=1 serves the same agent with the SDK's own SessionManager.

import { serve } from '@hono/node-server';
import { AgentBase, FunctionResult } from '@signalwire/sdk';
import { RemoteSessionManager, adoptSignalWireCallId } from 'swaig-session-client';

export const AUTH = ['agent-user', 'agent-password'];
export const ROUTE = '/weather';

/** What the tools return for SignalWire's SWAIG argument shape ({parsed: [{...}]}) or a plain object. */
function argument(args, name) {
  const parsed = Array.isArray(args?.parsed) ? args.parsed[0] : args;
  return parsed?.[name];
}

/**
 * The agent: two pure tools, and three that use the session manager given (`sessions`) to share
 * metadata with other instances and to end the call. `ran` counts each tool's executions.
 */
/**
 * @typedef {{
 *   setSessionMetadata(id: string, metadata: Record<string, unknown>): void,
 *   fetchSessionMetadata(id: string): Promise<Record<string, unknown>>,
 *   endSession(id: string): boolean,
 * }} Sessions
 * @param {{ sessions?: Sessions | null, name?: string }} [options]
 */
export function weatherAgent({ sessions = null, name = 'weather' } = {}) {
  const ran = { get_weather: 0, get_time: 0, remember: 0, recall: 0, hang_up: 0 };
  const agent = new AgentBase({ name, route: ROUTE, basicAuth: AUTH, suppressLogs: true });
  agent.setPromptText('You report the weather.');
  agent.setPostPrompt('Summarize the call in one sentence.');
  const tool = (toolName, description, handler) =>
    agent.defineTool({
      name: toolName,
      description,
      parameters: { city: { type: 'string' }, key: { type: 'string' }, value: { type: 'string' } },
      secure: true, // each call needs this call's token for this tool (the TypeScript SDK's default is false)
      handler: async (args, raw) => {
        ran[toolName] += 1;
        return handler(args, raw);
      },
    });
  tool('get_weather', 'The weather in a city', (args) => new FunctionResult(`Sunny in ${argument(args, 'city')}`));
  tool('get_time', 'The time in a city', (args) => new FunctionResult(`Noon in ${argument(args, 'city')}`));
  tool('remember', 'Note something about the call', (args, raw) => {
    sessions.setSessionMetadata(raw.call_id, { [argument(args, 'key')]: argument(args, 'value') });
    return new FunctionResult('Noted');
  });
  tool('recall', 'Everything noted about the call, by any instance', async (_args, raw) => {
    return new FunctionResult(JSON.stringify(await sessions.fetchSessionMetadata(raw.call_id)));
  });
  tool('hang_up', 'End the call', (_args, raw) => {
    sessions.endSession(raw.call_id);
    return new FunctionResult('Goodbye');
  });
  return { agent, ran };
}

/** The agent's own Hono app on a free port of 127.0.0.1. */
export function serveAgent(agent, port = 0) {
  return new Promise((resolve) => {
    const server = serve({ fetch: agent.getApp().fetch, port, hostname: '127.0.0.1' }, (info) => {
      resolve({
        port: info.port,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections?.(); // keep-alive connections would hold close() open
          }),
      });
    });
  });
}

async function main() {
  let sessions = null;
  if (process.env.SWAIG_SDK_ONLY) {
    const { agent } = weatherAgent();
    adoptSignalWireCallId(agent); // the same call ids as with the client, so both serve SignalWire's requests alike
    return { served: await serveAgent(agent, Number(process.env.PORT ?? 0)), sessions };
  }
  sessions = await RemoteSessionManager.connect(process.env.SWAIG_API_URL, {
    ...(process.env.SWAIG_SECRET_ARN ? { secretArn: process.env.SWAIG_SECRET_ARN } : { secretKey: process.env.SWAIG_SECRET_KEY }),
    ...(process.env.SWAIG_ENDED_CHECK_SECS ? { endedCheckSecs: Number(process.env.SWAIG_ENDED_CHECK_SECS) } : {}),
  });
  const { agent } = weatherAgent({ sessions });
  sessions.install(agent); // the one line an agent adds
  return { served: await serveAgent(agent, Number(process.env.PORT ?? 0)), sessions };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { served, sessions } = await main();
  process.stdout.write(JSON.stringify({ port: served.port }) + '\n');
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await served.close();
    if (sessions) {
      await sessions.close(60_000); // what is still queued reaches the service first
      process.stderr.write(`weather-agent: ${JSON.stringify(sessions.stats())}\n`);
    }
    process.exit(0);
  };
  process.stdin.on('end', stop).resume();
  process.on('SIGTERM', stop);
}
