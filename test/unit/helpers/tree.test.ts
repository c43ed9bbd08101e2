// The tree snapshot/compare helper is itself tested: equal trees compare equal, and every kind of
// difference the integration tests rely on (mode, owner, content, mtime, symlink target, hardlink
// group, type, presence, device) is reported. Runs as root (chown, mknod).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmod, chown, link, lutimes, mkdir, mkdtemp, rm, symlink, unlink, utimes, writeFile, copyFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { compareTrees, snapshotTree } from '../../helpers/tree.ts';

const T0 = 1_700_000_000;

/** The same small tree every time, with fixed mtimes (dirs stamped last). */
async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'd/sub'), { recursive: true });
  await writeFile(join(root, 'd/file'), 'hello\n');
  await writeFile(join(root, 'd/sub/deep'), 'deep\n');
  await writeFile(join(root, 'h1'), 'linked\n');
  await link(join(root, 'h1'), join(root, 'h2'));
  await link(join(root, 'h1'), join(root, 'd/h3'));
  await symlink('../h1', join(root, 'd/rel'));
  await symlink('/nowhere', join(root, 'dangling'));
  await writeFile(join(root, 'suid'), '#!/bin/sh\n');
  await chown(join(root, 'suid'), 1000, 1000);
  await chmod(join(root, 'suid'), 0o4755);
  await mkdir(join(root, 'sticky'));
  await chmod(join(root, 'sticky'), 0o1777);
  execFileSync('mkfifo', [join(root, 'fifo')]);
  execFileSync('mknod', [join(root, 'null'), 'c', '1', '3']);
  let n = 0;
  for (const p of ['d/file', 'd/sub/deep', 'h1', 'suid', 'fifo', 'null', 'd/sub', 'sticky', 'd', '.']) {
    await utimes(join(root, p), T0 + ++n, T0 + n);
  }
  for (const p of ['d/rel', 'dangling']) await lutimes(join(root, p), T0 + ++n, T0 + n);
}

describe('tree helper', () => {
  let base: string;
  let a: string;
  let count = 0;
  /** A fresh copy of the reference tree to mutate. */
  const fresh = async (): Promise<string> => {
    const dir = join(base, `b${++count}`);
    await mkdir(dir);
    await makeTree(dir);
    return dir;
  };
  /** Re-stamp a dir whose mtime a mutation inside it changed, so only the intended change shows. */
  const restamp = async (dir: string, rel: string, n: number): Promise<void> => {
    await utimes(join(dir, rel), T0 + n, T0 + n);
  };

  before(async () => {
    base = await mkdtemp('/var/tmp/keel-tree-test-');
    a = join(base, 'a');
    await mkdir(a);
    await makeTree(a);
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('records type, mode bits, owner, content hash, symlink target and hardlink groups', async () => {
    const s = await snapshotTree(a);
    assert.equal(s.get('/')?.type, 'dir');
    assert.equal(s.get('/suid')?.mode, 0o4755);
    assert.equal(s.get('/suid')?.uid, 1000);
    assert.equal(s.get('/sticky')?.mode, 0o1777);
    assert.equal(s.get('/d/file')?.sha256, '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03');
    assert.equal(s.get('/d/file')?.size, 6);
    assert.equal(s.get('/d/rel')?.type, 'symlink');
    assert.equal(s.get('/d/rel')?.target, '../h1');
    assert.equal(s.get('/dangling')?.target, '/nowhere');
    assert.equal(s.get('/fifo')?.type, 'fifo');
    assert.equal(s.get('/null')?.type, 'char');
    assert.equal(s.get('/null')?.rdev, '1:3');
    assert.deepEqual(s.get('/h2')?.links, ['/d/h3', '/h1', '/h2']);
    assert.equal(s.get('/h1')?.linkGroup, '/d/h3');
    assert.equal(s.get('/d/file')?.links, undefined);
    assert.equal(s.get('/d/file')?.mtimeMs, (T0 + 1) * 1000);
  });

  it('finds two identically built trees equal', async () => {
    assert.deepEqual(await compareTrees(a, await fresh()), []);
  });

  it('reports a changed mode (including the setuid bit)', async () => {
    const b = await fresh();
    await chmod(join(b, 'suid'), 0o755);
    assert.deepEqual(await compareTrees(a, b), ['/suid: mode 4755 in a, 0755 in b']);
  });

  it('reports a changed owner', async () => {
    const b = await fresh();
    await chown(join(b, 'd/file'), 65534, 65534);
    assert.deepEqual(await compareTrees(a, b), ['/d/file: owner 0:0 in a, 65534:65534 in b']);
  });

  it('reports changed content of the same size, and keeps the mtime check apart', async () => {
    const b = await fresh();
    await writeFile(join(b, 'd/file'), 'HELLO\n');
    await utimes(join(b, 'd/file'), T0 + 1, T0 + 1);
    const diffs = await compareTrees(a, b);
    assert.equal(diffs.length, 1);
    assert.match(diffs[0]!, /^\/d\/file: content 6 bytes sha256 5891b5b522d5 in a, 6 bytes sha256 [0-9a-f]{12} in b$/);
  });

  it('reports a changed mtime in seconds, and ignores sub-second and, on request, all mtimes', async () => {
    const b = await fresh();
    await utimes(join(b, 'd/file'), T0 + 1.5, T0 + 1.5); // same second as a's
    assert.deepEqual(await compareTrees(a, b), []);
    assert.equal((await compareTrees(a, b, { mtime: 'ms' })).length, 1);
    await utimes(join(b, 'd/sub/deep'), T0 + 100, T0 + 100);
    assert.deepEqual(await compareTrees(a, b), [
      `/d/sub/deep: mtime ${new Date((T0 + 2) * 1000).toISOString()} in a, ${new Date((T0 + 100) * 1000).toISOString()} in b`,
    ]);
    assert.deepEqual(await compareTrees(a, b, { mtime: 'ignore' }), []);
  });

  it('reports a changed symlink target without following it', async () => {
    const b = await fresh();
    await unlink(join(b, 'd/rel'));
    await symlink('/h1', join(b, 'd/rel'));
    await lutimes(join(b, 'd/rel'), T0 + 11, T0 + 11);
    await restamp(b, 'd', 9);
    assert.deepEqual(await compareTrees(a, b), ['/d/rel: symlink target "../h1" in a, "/h1" in b']);
  });

  it('reports a broken hardlink group once, even when content and metadata match', async () => {
    const b = await fresh();
    await unlink(join(b, 'h2'));
    await copyFile(join(b, 'h1'), join(b, 'h2'));
    await utimes(join(b, 'h2'), T0 + 3, T0 + 3);
    await restamp(b, '.', 10);
    assert.deepEqual(await compareTrees(a, b), [
      '/d/h3: hardlink group {/d/h3, /h1, /h2} in a, {/d/h3, /h1} in b',
      '/h2: hardlink group {/d/h3, /h1, /h2} in a, {/h2} in b',
    ]);
  });

  it('reports entries missing on either side and type changes', async () => {
    const b = await fresh();
    await rm(join(b, 'd/sub'), { recursive: true });
    await rm(join(b, 'sticky'), { recursive: true });
    await writeFile(join(b, 'sticky'), '');
    await writeFile(join(b, 'extra'), 'x');
    await restamp(b, 'd', 9);
    await restamp(b, '.', 10);
    await utimes(join(b, 'sticky'), T0 + 8, T0 + 8);
    assert.deepEqual(await compareTrees(a, b, { names: ['ref', 'keel'] }), [
      '/d/sub: only in ref (dir)',
      '/d/sub/deep: only in ref (file)',
      '/extra: only in keel (file)',
      '/sticky: type dir in ref, file in keel',
    ]);
  });

  it('ignores the root dir, device nodes and chosen paths on request', async () => {
    const b = await fresh();
    await chmod(b, 0o700);
    await rm(join(b, 'null'));
    await rm(join(b, 'd/sub'), { recursive: true });
    await restamp(b, 'd', 9);
    await restamp(b, '.', 10);
    assert.equal((await compareTrees(a, b)).length, 4);
    assert.deepEqual(await compareTrees(a, b, {
      ignoreRoot: true, ignoreDevices: true, ignore: (p) => p === '/d/sub',
    }), []);
  });

  it('compares snapshots as well as dirs, and stops at the limit', async () => {
    const empty = join(base, 'empty');
    await mkdir(empty);
    const diffs = await compareTrees(await snapshotTree(a), empty, { ignoreRoot: true, limit: 3 });
    assert.equal(diffs.length, 4);
    assert.match(diffs[3]!, /stopped after 3/);
  });
});
