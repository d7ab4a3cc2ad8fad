/**
 * The SDK's own tests/SessionManager.test.ts, unchanged, run against the client: its import of
 * `../src/SessionManager.js` resolves to test/sdk/session-manager.ts. Run by test/sdk-suite.test.ts,
 * which holds the outcome to the differences listed in test/sdk/differences.json.
 */

import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vitest/config';

const sdk = process.env['SIGNALWIRE_SDK_DIR'];
if (!sdk) throw new Error('SIGNALWIRE_SDK_DIR names the compiled SDK copy (scripts/prepare.mjs)');

export default defineConfig({
  root: sdk,
  resolve: {
    alias: [
      {
        find: /^\.\.\/src\/SessionManager\.js$/,
        replacement: fileURLToPath(new URL('./test/sdk/session-manager.ts', import.meta.url)),
      },
    ],
  },
  test: {
    include: ['tests/SessionManager.test.ts'],
    environment: 'node',
  },
});
