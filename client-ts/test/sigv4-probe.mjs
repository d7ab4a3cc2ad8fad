// One call's start sent by the client, as configured by the environment, for tests/client_ts/test_sigv4.py:
// SWAIG_API_URL, SWAIG_SECRET_KEY, PROBE_CALL_ID, PROBE_SIGN ("true", "false" or unset), PROBE_ACCESS_KEY,
// PROBE_SECRET_ACCESS_KEY, PROBE_SESSION_TOKEN, PROBE_REGION. Prints {"signed", "stats"} once the start was answered or given up.

import { RemoteSessionManager } from 'swaig-session-client';

const sign = process.env.PROBE_SIGN === undefined ? {} : { sign: process.env.PROBE_SIGN === 'true' };
const sessions = await RemoteSessionManager.connect(process.env.SWAIG_API_URL, {
  secretKey: process.env.SWAIG_SECRET_KEY,
  ...sign,
  ...(process.env.PROBE_ACCESS_KEY
    ? {
        credentials: {
          accessKeyId: process.env.PROBE_ACCESS_KEY,
          secretAccessKey: process.env.PROBE_SECRET_ACCESS_KEY,
          ...(process.env.PROBE_SESSION_TOKEN ? { sessionToken: process.env.PROBE_SESSION_TOKEN } : {}),
        },
      }
    : {}),
  ...(process.env.PROBE_REGION ? { region: process.env.PROBE_REGION } : {}),
  retryForSecs: 0,
});
sessions.createToolToken('get_weather', process.env.PROBE_CALL_ID);
await sessions.close(30_000);
process.stdout.write(JSON.stringify({ signed: sessions.signed, stats: sessions.stats() }) + '\n');
