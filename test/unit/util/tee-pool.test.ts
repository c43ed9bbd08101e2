import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { mapLimit } from '../../../src/util/pool.ts';
import { tee } from '../../../src/util/tee.ts';

test('tee gives both branches every byte', async () => {
  const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(100_000, i));
  const [a, b] = tee(Readable.from(chunks));
  const [x, y] = await Promise.all([buffer(a), buffer(b)]);
  assert.equal(x.length, 5_000_000);
  assert.ok(x.equals(y));
});

test('tee: a source error fails both branches', async () => {
  const source = new Readable({ read() { this.destroy(new Error('cut')); } });
  const [a, b] = tee(source);
  await assert.rejects(buffer(a), /cut/);
  await assert.rejects(buffer(b), /cut/);
});

test('tee: one branch failing fails the other', async () => {
  const source = new Readable({ read() { this.push(Buffer.alloc(1000)); } });
  const [a, b] = tee(source);
  a.destroy(new Error('consumer failed'));
  await assert.rejects(buffer(b), /consumer failed/);
});

test('mapLimit bounds concurrency and keeps order', async () => {
  let running = 0;
  let peak = 0;
  const out = await mapLimit([1, 2, 3, 4, 5, 6], 2, async (n) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
    return n * 2;
  });
  assert.deepEqual(out, [2, 4, 6, 8, 10, 12]);
  assert.equal(peak, 2);
});

test('mapLimit stops starting work after a failure and waits for running jobs', async () => {
  const started: number[] = [];
  let settled = 0;
  await assert.rejects(
    mapLimit([1, 2, 3, 4, 5], 2, async (n, _i, signal) => {
      started.push(n);
      if (n === 1) throw new Error('first failed');
      await new Promise((r) => setTimeout(r, 10));
      settled++;
      assert.ok(signal.aborted);
    }),
    /first failed/,
  );
  assert.ok(!started.includes(5));
  assert.equal(settled, started.length - 1);
});
