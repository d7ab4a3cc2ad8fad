/**
 * The SDK's own SessionManager tests, run against the client (vitest.sdk.config.ts). Every test
 * passes except those listed, each with its reason, in test/sdk/differences.json: a new failure, a
 * listed test that passes, or a test that did not run fails here.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { env } from './support.js';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface Report {
  testResults: Array<{ assertionResults: Array<{ title: string; status: string; failureMessages: string[] }> }>;
}

describe("the SDK's SessionManager tests, against the client", () => {
  it('pass, but for the differences listed with their reasons', () => {
    const folder = mkdtempSync(join(tmpdir(), 'swaig-sdk-suite-'));
    try {
      const output = join(folder, 'report.json');
      const run = spawnSync(
        process.execPath,
        [join(here, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', 'vitest.sdk.config.ts', '--reporter=json', `--outputFile=${output}`],
        {
          cwd: here,
          env: { ...process.env, SIGNALWIRE_SDK_DIR: env().sdkDir, SWAIG_TEST_BASE_URL: env().baseUrl },
          encoding: 'utf8',
          timeout: 120_000,
        },
      );
      const report = JSON.parse(readFileSync(output, 'utf8')) as Report;
      const results = report.testResults.flatMap((file) => file.assertionResults);
      const source = readFileSync(join(env().sdkDir, 'tests', 'SessionManager.test.ts'), 'utf8');
      expect(results.length, run.stderr).toBe(source.match(/^\s+it\(/gm)?.length);
      const differences = JSON.parse(readFileSync(join(here, 'test', 'sdk', 'differences.json'), 'utf8')) as Record<
        string,
        { fails_with: string; reason: string }
      >;
      const failed = results.filter((r) => r.status !== 'passed');
      // Each listed test fails, and for the reason given, not another.
      expect(Object.fromEntries(failed.map((r) => [r.title, r.failureMessages[0]?.split('\n')[0]])), 'failed').toEqual(
        Object.fromEntries(
          Object.entries(differences).map(([title, { fails_with }]) => [title, expect.stringContaining(fails_with)]),
        ),
      );
      expect(results.filter((r) => r.status === 'passed').length).toBe(results.length - Object.keys(differences).length);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
