import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { managerNofileHardLimit } from '../../../src/runtime/host-limits.ts';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 20000                files
Max locked memory         8388608              8388608              bytes
`;

test('reads the hard RLIMIT_NOFILE of the service manager', async () => {
  const dir = await mkdtemp('/var/tmp/keel-limits-');
  try {
    await writeFile(path.join(dir, 'limits'), LIMITS);
    assert.equal(await managerNofileHardLimit(path.join(dir, 'limits')), 20000);
    await writeFile(path.join(dir, 'unlimited'), LIMITS.replace('20000', 'unlimited'));
    assert.equal(await managerNofileHardLimit(path.join(dir, 'unlimited')), undefined);
    assert.equal(await managerNofileHardLimit(path.join(dir, 'missing')), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('this host has a readable limit', async () => {
  const n = await managerNofileHardLimit();
  assert.ok(n === undefined || n >= 1024);
});
