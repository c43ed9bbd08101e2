// TaskWindow: at most `limit` tasks at once, settle() waits for all and
// throws the first failure, add() refuses new work after a failure, idle()
// waits without throwing.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { TaskWindow } from '../../../src/util/task-window.ts';

test('runs at most `limit` tasks at once and settles after all of them', async () => {
  const window = new TaskWindow(3);
  let running = 0;
  let peak = 0;
  let done = 0;
  for (let i = 0; i < 10; i++) {
    await window.add(async () => {
      running += 1;
      peak = Math.max(peak, running);
      await sleep(5 + (i % 3) * 5);
      running -= 1;
      done += 1;
    });
  }
  await window.settle();
  assert.equal(done, 10);
  assert.equal(peak, 3);
});

test('the first failure is thrown by settle, and add refuses new work after it', async () => {
  const window = new TaskWindow(2);
  let slowDone = false;
  await window.add(async () => {
    await sleep(30);
    slowDone = true;
  });
  await window.add(async () => {
    await sleep(5);
    throw new Error('first');
  });
  await sleep(10);
  await assert.rejects(window.add(async () => assert.fail('not started after a failure')), /first/);
  await assert.rejects(window.settle(), /first/);
  assert.equal(slowDone, true, 'settle waited for the task still running');
});

test('idle waits for every task without throwing', async () => {
  const window = new TaskWindow(4);
  let finished = 0;
  await window.add(async () => {
    await sleep(5);
    throw new Error('ignored by idle');
  });
  await window.add(async () => {
    await sleep(20);
    finished += 1;
  });
  await window.idle();
  assert.equal(finished, 1);
});
