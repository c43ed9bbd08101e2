// The lock protocol: stale locks are broken, live ones wait and time out
// naming the holder, shared/exclusive exclude each other, tmp leftovers of
// dead processes are cleaned on open.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { isKeelError } from '../../../src/errors.ts';
import { digestOf } from '../../../src/oci/digest.ts';
import { currentBootId, processStartTime } from '../../../src/layout/owner.ts';
import { Store } from '../../../src/store/index.ts';
import { StoreLocks } from '../../../src/store/lock.ts';
import { deadPid, openTempStore } from './fixtures.ts';

async function plantLock(root: string, name: string, owner: { pid: number; start: string; boot: string }): Promise<string> {
  const dir = join(root, 'locks', name);
  await mkdir(dir);
  await writeFile(join(dir, 'owner.json'), JSON.stringify({ ...owner, nonce: `planted-${owner.pid}-${owner.start}`, lock: name, since: '' }));
  return dir;
}

describe('store locks', () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ store, cleanup } = await openTempStore({ lockTimeoutMs: 3000 }));
  });
  after(() => cleanup());

  const lockName = (d: string): string => `blob-sha256-${d.slice(7)}`;

  it('breaks a lock whose owner pid is dead', async () => {
    const data = Buffer.from('stale-dead');
    const d = digestOf(data);
    await plantLock(store.root, lockName(d), { pid: deadPid(), start: '12345', boot: currentBootId() });
    const t0 = Date.now();
    await store.putBlob(data, { digest: d });
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(await store.hasBlob(d), true);
    assert.deepEqual((await readdir(join(store.root, 'locks'))).sort(), ['shared']);
  });

  it('breaks a lock whose pid was reused (start time differs) or is from another boot', async () => {
    const d1 = digestOf('reused');
    await plantLock(store.root, lockName(d1), { pid: process.pid, start: '1', boot: currentBootId() });
    await store.withBlobLock(d1, async () => {});
    const d2 = digestOf('other-boot');
    await plantLock(store.root, lockName(d2), { pid: process.pid, start: processStartTime(process.pid) ?? '', boot: '00000000-0000-0000-0000-000000000000' });
    await store.withBlobLock(d2, async () => {});
    assert.deepEqual((await readdir(join(store.root, 'locks'))).sort(), ['shared']);
  });

  it('waits for a live holder and times out with E_STORE_LOCKED naming its pid', async () => {
    const sleeper = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    try {
      const pid = sleeper.pid ?? 0;
      let start: string | undefined;
      for (let i = 0; i < 50 && start === undefined; i++) {
        start = processStartTime(pid);
        if (start === undefined) await sleep(10);
      }
      const d = digestOf('held-by-live');
      const dir = await plantLock(store.root, lockName(d), { pid, start: start ?? '', boot: currentBootId() });
      const short = await Store.open(store.root, { lockTimeoutMs: 300 });
      const t0 = Date.now();
      await assert.rejects(short.withBlobLock(d, async () => {}), (err) => isKeelError(err, 'E_STORE_LOCKED') && err.detail.pid === pid && err.message.includes(`pid ${pid}`));
      assert.ok(Date.now() - t0 >= 250);
      assert.deepEqual(await readdir(dir), ['owner.json'], 'a live lock is left alone');
    } finally {
      sleeper.kill();
    }
  });

  it('does not time out while the holder reports progress (a long download), and does once it stops', async () => {
    // two lock clients of one store in one process: the second waits as another process would
    // (a timeout above the 1 s between touches, as the real 10 minutes are)
    const holder = new StoreLocks(join(store.root, 'locks'), join(store.root, 'tmp'), 1500);
    const waiter = new StoreLocks(join(store.root, 'locks'), join(store.root, 'tmp'), 1500);
    const t0 = Date.now();
    let released = 0;
    const holding = holder.withLock('ingest-progress', async (progress) => {
      while (Date.now() - t0 < 4000) {
        progress(); // touches owner.json at most once a second
        await sleep(50);
      }
      released = Date.now();
    });
    await sleep(50);
    await waiter.withLock('ingest-progress', async () => {
      assert.ok(released > 0, 'the waiter got the lock only after the holder released it');
    });
    await holding;
    assert.ok(Date.now() - t0 >= 4000, 'waited well past its 1.5 s timeout while the holder progressed');

    // the same holder without progress: the waiter times out after its 1.5 s
    let stop!: () => void;
    const stuck = holder.withLock('ingest-stuck', () => new Promise<void>((resolve) => (stop = resolve)));
    await sleep(50);
    const t1 = Date.now();
    await assert.rejects(waiter.withLock('ingest-stuck', async () => {}), (err) => isKeelError(err, 'E_STORE_LOCKED') && err.detail.pid === process.pid);
    assert.ok(Date.now() - t1 < 3000);
    stop();
    await stuck;
  });

  it('is not re-entrant: a holder taking its own lock again fails instead of deadlocking', async () => {
    const d = digestOf('reentrant');
    await assert.rejects(
      store.withBlobLock(d, () => store.withBlobLock(d, async () => {})),
      (err) => isKeelError(err, 'E_INTERNAL') && /not re-entrant/.test(err.message),
    );
    // and it was released: taking it again works
    await store.withBlobLock(d, async () => {});
  });

  it('writeBlob opens a lazy source only when the blob is missing, under the blob lock', async () => {
    const data = Buffer.from('lazy');
    const d = digestOf(data);
    let opened = 0;
    const open = async () => {
      opened += 1;
      return Readable.from([data]);
    };
    await Promise.all([store.writeBlob({ digest: d, size: data.length }, open), store.writeBlob({ digest: d, size: data.length }, open)]);
    await store.writeBlob({ digest: d, size: data.length }, open);
    assert.equal(opened, 1);
    assert.equal(await store.hasBlob(d), true);
  });

  it('serialises blob lock holders of one process', async () => {
    const d = digestOf('serial');
    const events: string[] = [];
    const hold = (tag: string) =>
      store.withBlobLock(d, async () => {
        events.push(`${tag}+`);
        await sleep(50);
        events.push(`${tag}-`);
      });
    await Promise.all([hold('a'), hold('b')]);
    assert.ok(events.join() === 'a+,a-,b+,b-' || events.join() === 'b+,b-,a+,a-', events.join());
  });

  it('exclusive waits for shared holders, and shared waits for exclusive', async () => {
    const events: string[] = [];
    const shared = store.withSharedLock(async () => {
      events.push('shared+');
      await sleep(200);
      events.push('shared-');
    });
    await sleep(20);
    const exclusive = store.withExclusiveLock(async () => {
      events.push('exclusive+');
      await sleep(200);
      events.push('exclusive-');
    });
    await sleep(50);
    const shared2 = store.withSharedLock(async () => {
      events.push('shared2+');
    });
    await Promise.all([shared, exclusive, shared2]);
    assert.deepEqual(events, ['shared+', 'shared-', 'exclusive+', 'exclusive-', 'shared2+']);
  });

  it('a shared registration of a dead process does not block exclusive', async () => {
    const reg = join(store.root, 'locks', 'shared', `${deadPid()}-999-${currentBootId().replace(/-/g, '').slice(0, 8)}.1.shared`);
    await writeFile(reg, '');
    const t0 = Date.now();
    await store.withExclusiveLock(async () => {});
    assert.ok(Date.now() - t0 < 1000);
    assert.deepEqual(await readdir(join(store.root, 'locks', 'shared')), []);
  });

  it('refuses a lock upgrade from shared to exclusive instead of deadlocking', async () => {
    await assert.rejects(
      store.withSharedLock(() => store.withExclusiveLock(async () => {})),
      (err) => isKeelError(err, 'E_INTERNAL'),
    );
  });

  it('cleans leftovers in tmp/ of dead processes on open, and keeps those of live ones', async () => {
    const boot8 = currentBootId().replace(/-/g, '').slice(0, 8);
    const tmp = join(store.root, 'tmp');
    const dead = `${deadPid()}-777-${boot8}.3.blob`;
    const deadDir = `${deadPid()}-777-${boot8}.4.layer`;
    const reused = `${process.pid}-1-${boot8}.5.blob`;
    const live = `${process.pid}-${processStartTime(process.pid)}-${boot8}.6.blob`;
    await writeFile(join(tmp, dead), 'partial');
    await mkdir(join(tmp, deadDir, 'usr', 'bin'), { recursive: true });
    await writeFile(join(tmp, reused), 'partial');
    await writeFile(join(tmp, live), 'in progress');
    await Store.open(store.root);
    assert.deepEqual(await readdir(tmp), [live]);
  });
});
