/**
 * What the tests need, given by tests/client_ts/test_npm.py as environment variables; a plain
 * `npm test` starts it itself: the compiled SDK copy (scripts/prepare.mjs) and a local stack with
 * the service's rule vectors (`python -m tests.support.node_stack`, from the repository's .venv).
 */

import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { TestProject } from 'vitest/node';

import { ENV_NAMES, type TestEnv } from './env-names.js';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(here, '..');

function fromEnvironment(): Partial<TestEnv> {
  const found: Partial<TestEnv> = {};
  for (const [field, name] of Object.entries(ENV_NAMES) as Array<[keyof TestEnv, string]>) {
    const value = process.env[name];
    if (value) found[field] = value;
  }
  return found;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = fromEnvironment();
  let stop = async () => {};
  if (!env.sdkDir) {
    const out = execFileSync(process.execPath, [join(here, 'scripts', 'prepare.mjs')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    env.sdkDir = (JSON.parse(out.trim().split('\n').pop() as string) as { sdk: string }).sdk;
  }
  if (!env.baseUrl) {
    const python = process.env['PYTHON'] ?? join(repo, '.venv', 'bin', 'python');
    if (!existsSync(python)) throw new Error(`no Python at ${python}: run \`make venv\` in ${repo}, or set PYTHON`);
    const child = spawn(python, ['-m', 'tests.support.node_stack'], {
      cwd: repo,
      env: { ...process.env, PYTHONPATH: ['shared', '.'].map((p) => join(repo, p)).join(':') },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const first = await new Promise<string>((resolveLine, reject) => {
      createInterface({ input: child.stdout }).once('line', resolveLine);
      child.once('exit', (code) => reject(new Error(`the local stack exited (${code}) before it was ready`)));
    });
    const given = JSON.parse(first) as Record<string, string>;
    for (const [field, name] of Object.entries(ENV_NAMES) as Array<[keyof TestEnv, string]>) {
      if (field !== 'sdkDir' && given[name]) env[field] = given[name];
    }
    stop = async () => {
      const exited = new Promise((done) => child.once('exit', done));
      child.stdin.end();
      await exited;
    };
  }
  const missing = (Object.keys(ENV_NAMES) as Array<keyof TestEnv>).filter((field) => !env[field]);
  if (missing.length) throw new Error(`the tests lack ${missing.map((field) => ENV_NAMES[field]).join(', ')}`);
  project.provide('env', env as TestEnv);
  return stop;
}
