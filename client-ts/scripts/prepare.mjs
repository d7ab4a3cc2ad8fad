#!/usr/bin/env node
// Everything the tests and the benchmark need, each step skipped when already done:
//   1. `npm ci`, once per package-lock.json (its hash is kept in node_modules/.lock-sha256);
//   2. the client, compiled to dist/, once per content of its sources;
//   3. the @signalwire/sdk snapshot, compiled in a copy under the system's temp folder (never in this
//      repository), cached by the hash of its sources and of this package's lock.
//   4. node_modules/@signalwire/sdk linked to that copy, so tests, examples and the benchmark import the
//      SDK by its name, as an agent does.
// The last line of stdout is JSON: {"sdk": "<the compiled SDK copy's folder>"}.
//
//   node scripts/prepare.mjs            # SIGNALWIRE_TS_SDK: the snapshot (default ../../shared/vendor/signalwire-typescript)

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(here, '..');
const sdkSource = resolve(process.env.SIGNALWIRE_TS_SDK || join(repo, '..', 'shared', 'vendor', 'signalwire-typescript'));
// What of the snapshot is copied: its sources, the one test file run against the client, its build files.
const SDK_PARTS = ['src', 'tests/SessionManager.test.ts', 'tsconfig.json', 'package.json'];

function say(line) {
  process.stderr.write(`prepare: ${line}\n`);
}

function run(command, args, cwd) {
  execFileSync(command, args, { cwd, stdio: ['ignore', process.stderr, process.stderr] });
}

function sha256(...parts) {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex');
}

function files(root, path) {
  const full = join(root, path);
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full).sort().flatMap((name) => files(root, join(path, name)));
}

function installDependencies() {
  const lock = readFileSync(join(here, 'package-lock.json'));
  const stamp = join(here, 'node_modules', '.lock-sha256');
  const wanted = sha256(lock);
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted) return;
  say('npm ci');
  run('npm', ['ci', '--no-audit', '--no-fund'], here);
  writeFileSync(stamp, wanted);
}

function buildClient() {
  // Skipped when the sources and build settings are those of the last build (tsc takes seconds to start).
  const stamp = join(here, 'node_modules', '.cache', 'client-build.sha256');
  const inputs = [...files(here, 'src'), 'tsconfig.json', 'package-lock.json'];
  const wanted = sha256(...inputs.flatMap((path) => [path, readFileSync(join(here, path))]));
  if (existsSync(join(here, 'dist', 'index.js')) && existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted) return;
  say('tsc (client)');
  run(process.execPath, [join(here, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], here);
  mkdirSync(dirname(stamp), { recursive: true });
  writeFileSync(stamp, wanted);
}

function buildSdk() {
  if (!existsSync(join(sdkSource, 'src', 'AgentBase.ts'))) {
    throw new Error(`no @signalwire/sdk snapshot at ${sdkSource}: set SIGNALWIRE_TS_SDK to its folder`);
  }
  const modules = realpathSync(join(here, 'node_modules'));
  const inputs = SDK_PARTS.flatMap((part) => files(sdkSource, part));
  const key = sha256(
    ...inputs.flatMap((path) => [path, readFileSync(join(sdkSource, path))]),
    readFileSync(join(here, 'package-lock.json')),
    modules,
  ).slice(0, 16);
  const target = join(tmpdir(), `swaig-signalwire-sdk-${key}`);
  if (existsSync(join(target, 'dist', 'index.js'))) return target;
  say(`building the SDK snapshot from ${sdkSource} in ${target}`);
  const work = mkdtempSync(join(tmpdir(), 'swaig-signalwire-sdk-build-'));
  try {
    for (const part of SDK_PARTS) cpSync(join(sdkSource, part), join(work, part), { recursive: true });
    // The SDK's dependencies are this package's devDependencies, at the versions of the SDK's own lock.
    symlinkSync(modules, join(work, 'node_modules'), 'dir');
    run(process.execPath, [join(modules, 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], work);
    cpSync(join(work, 'src', 'schema.json'), join(work, 'dist', 'schema.json')); // the SDK's postbuild step
    try {
      renameSync(work, target);
    } catch (error) {
      if (!existsSync(join(target, 'dist', 'index.js'))) throw error; // else another run finished first
      rmSync(work, { recursive: true, force: true });
    }
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
  say(`built ${relative(tmpdir(), target)}`);
  return target;
}

function linkSdk(target) {
  const link = join(here, 'node_modules', '@signalwire', 'sdk');
  let current = null;
  try {
    current = lstatSync(link).isSymbolicLink() ? readlinkSync(link) : '';
  } catch {
    current = null; // absent
  }
  if (current === target) return;
  if (current !== null) rmSync(link, { recursive: true, force: true });
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(target, link, 'dir');
}

installDependencies();
buildClient();
const sdk = buildSdk();
linkSdk(sdk);
process.stdout.write(JSON.stringify({ sdk }) + '\n');
