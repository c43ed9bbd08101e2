// Two keel processes on one store: concurrent writes of one blob, lock release on exit,
// exclusive waiting for another process's shared lock.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { digestOf } from '../../../src/oci/digest.ts';
import { Store } from '../../../src/store/index.ts';
import { NODE, openTempStore } from './fixtures.ts';

const CHILD = new URL('./child.ts', import.meta.url).pathname;

function runChild(args: string[], onLine?: (line: string) => void): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(NODE, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (onLine) for (const l of d.toString().split('\n')) if (l) onLine(l);
    });
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

describe('store across processes', () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ store, cleanup } = await openTempStore({ lockTimeoutMs: 20_000 }));
  });
  after(() => cleanup());

  it('two processes writing the same blob both succeed, and only one writes it', async () => {
    const size = 2 * 1024 * 1024;
    const data = Buffer.alloc(size, 9);
    const digest = digestOf(data);
    const args = ['write', store.root, digest, String(size), '9'];
    const [r1, r2] = await Promise.all([runChild(args), runChild(args)]);
    assert.equal(r1.code, 0, r1.err);
    assert.equal(r2.code, 0, r2.err);
    const reads = [JSON.parse(r1.out).reads as number, JSON.parse(r2.out).reads as number];
    assert.equal(reads.filter((n) => n > 0).length, 1, `reads per process: ${reads}`);
    assert.deepEqual(await store.readBlob(digest, size), data);
    assert.deepEqual(await readdir(join(store.root, 'tmp')), []);
    assert.deepEqual((await readdir(join(store.root, 'locks'))).sort(), ['shared']);
  });

  it('a process that exits while holding a lock releases it', async () => {
    const digest = digestOf('exit-holding');
    const r = await runChild(['exit-holding', store.root, digest]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual((await readdir(join(store.root, 'locks'))).sort(), ['shared']);
  });

  it("an exclusive lock waits for another process's shared lock", async () => {
    let heldAt = 0;
    let held!: () => void;
    const isHeld = new Promise<void>((r) => (held = r));
    const child = runChild(['shared', store.root, '700'], (l) => {
      if (l === 'held') {
        heldAt = Date.now();
        held();
      }
    });
    await isHeld;
    const gotIt = await store.withExclusiveLock(async () => Date.now());
    const r = await child;
    assert.equal(r.code, 0, r.err);
    // the child held the shared lock for 700 ms from before it said "held"
    assert.ok(gotIt - heldAt >= 600, `exclusive granted ${gotIt - heldAt} ms after the shared lock was taken`);
  });
  it('processes creating one store at the same moment all succeed (regression: oci-layout appearing mid-open)', async () => {
    for (let round = 0; round < 6; round++) {
      const root = join(await mkdtemp('/var/tmp/keel-race-'), 'store');
      try {
        const results = await Promise.all(Array.from({ length: 4 }, () => runChild(['open', root])));
        for (const r of results) assert.equal(r.code, 0, r.err);
      } finally {
        await rm(dirname(root), { recursive: true, force: true });
      }
    }
  });
});
