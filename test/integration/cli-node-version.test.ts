// keel's built CLI run by a Node.js older than 24 (the system's /usr/bin/node
// on Debian 12 is 18 or 20): it must refuse with E_NODE_TOO_OLD and exit 69,
// before anything newer than that Node can parse or run breaks first.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
