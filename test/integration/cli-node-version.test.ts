// keel's built CLI run by a Node.js older than 24 (the system's /usr/bin/node
// on Debian 12 is 18 or 20): it must refuse with E_NODE_TOO_OLD and exit 69,
// before anything newer than that Node can parse or run breaks first. And its
// launcher, finding no Node.js or no build: E_NOT_INSTALLED, exit 69.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, runProgram } from '../helpers/run.ts';

const OLD_NODE = '/usr/bin/node';
const oldVersion = existsSync(OLD_NODE) ? execFileSync(OLD_NODE, ['--version'], { encoding: 'utf8' }).trim() : undefined;
const skip = oldVersion === undefined ? `${OLD_NODE} is absent` : Number(oldVersion.slice(1).split('.')[0]) >= 24 ? `${OLD_NODE} is ${oldVersion}, not older than 24` : false;

test(`an old Node.js (${oldVersion ?? 'none'}) gets E_NODE_TOO_OLD and exit 69, not E_USAGE`, { skip }, async () => {
  const r = await runProgram(OLD_NODE, [join(REPO_ROOT, 'dist/cli/entry.js'), '--version']);
  assert.equal(r.code, 69, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^keel: error: Node\.js \d+\.\d+\.\d+ is too old; keel needs Node\.js 24 or newer \[E_NODE_TOO_OLD\]\nkeel: hint: /);
  assert.doesNotMatch(r.stderr, /E_USAGE/);
});

test('the launcher without a Node.js or without a build refuses with E_NOT_INSTALLED and exit 69', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-launcher-'));
  try {
    // a checkout with bin/keel only: no node_modules, no dist/
    mkdirSync(join(dir, 'checkout', 'bin'), { recursive: true });
    copyFileSync(join(REPO_ROOT, 'bin', 'keel'), join(dir, 'checkout', 'bin', 'keel'));
    mkdirSync(join(dir, 'tools'));
    symlinkSync('/usr/bin/readlink', join(dir, 'tools', 'readlink'));
    const launch = (path: string): ReturnType<typeof spawnSync> =>
      spawnSync('/bin/sh', [join(dir, 'checkout', 'bin', 'keel'), '--version'], { env: { PATH: path }, encoding: 'utf8' });

    const noNode = launch(join(dir, 'tools'));
    assert.equal(noNode.status, 69, String(noNode.stderr));
    assert.match(String(noNode.stderr), /^keel: error: no Node\.js found \(keel needs 24 or newer\) \[E_NOT_INSTALLED\]\nkeel: hint: run 'npm ci' in /);

    symlinkSync(process.execPath, join(dir, 'tools', 'node'));
    const notBuilt = launch(join(dir, 'tools'));
    assert.equal(notBuilt.status, 69, String(notBuilt.stderr));
    assert.match(String(notBuilt.stderr), /^keel: error: keel is not built in .*checkout \[E_NOT_INSTALLED\]\nkeel: hint: run 'npm run build' in /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
