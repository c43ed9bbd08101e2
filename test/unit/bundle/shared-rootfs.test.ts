// The per-image shared rootfs is hard links to the store's layer inodes: once
// a layer was set aside as damaged and extracted again, a tree built from the
// old extraction must not be reused (issue 9). It is retired by one rename,
// not deleted (a running container may be on it), and pruned after a reboot;
// so is a tree that lost its record.

import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ensureSharedRootfs, pruneUnusedRootfs } from '../../../src/bundle/index.ts';
import { ROOTFS_RECORD, sharedRootfsBase } from '../../../src/bundle/shared-rootfs.ts';
import { DIFF_A, MANIFEST, tempDir } from './helpers.ts';

describe('shared rootfs and re-extracted layers', () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let root: string;
  beforeEach(async () => {
    tmp = await tempDir('keel-shared-rootfs-');
    root = join(tmp.path, 'root');
  });
  afterEach(() => tmp.cleanup());

  async function layer(name: string, content: string): Promise<string> {
    const dir = join(tmp.path, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'file'), content);
    return dir;
  }

  it('reuses a tree built from the same extraction, rebuilds one whose layer was extracted again, and retires the old one', async () => {
    const damaged = await layer('first', 'damaged\n');
    const first = await ensureSharedRootfs(root, MANIFEST, [DIFF_A], [{ dir: damaged, extraction: '2026-01-01T00:00:00.000Z' }]);
    assert.equal(first.created, true);
    const same = await ensureSharedRootfs(root, MANIFEST, [DIFF_A], [{ dir: damaged, extraction: '2026-01-01T00:00:00.000Z' }]);
    assert.equal(same.created, false);

    const repaired = await layer('second', 'repaired\n');
    const rebuilt = await ensureSharedRootfs(root, MANIFEST, [DIFF_A], [{ dir: repaired, extraction: '2026-01-02T00:00:00.000Z' }]);
    assert.equal(rebuilt.created, true, 'a tree of the old extraction is not reused');
    assert.equal(rebuilt.dir, first.dir, 'at the same path, which restarted containers pick up');
    assert.equal(await readFile(join(rebuilt.dir, 'file'), 'utf8'), 'repaired\n');
    const retired = (await readdir(sharedRootfsBase(root))).filter((n) => n.startsWith('.retired-'));
    assert.equal(retired.length, 1);
    assert.equal(await readFile(join(sharedRootfsBase(root), retired[0] as string, 'rootfs', 'file'), 'utf8'), 'damaged\n', 'kept for containers still running on it');

    // prune keeps this boot's retired trees, and removes those of an earlier boot
    await pruneUnusedRootfs(root);
    assert.equal((await readdir(sharedRootfsBase(root))).filter((n) => n.startsWith('.retired-')).length, 1);
    const earlier = (retired[0] as string).replace(/^\.retired-[0-9a-f]{8}-/, '.retired-00000001-');
    await rename(join(sharedRootfsBase(root), retired[0] as string), join(sharedRootfsBase(root), earlier));
    await pruneUnusedRootfs(root);
    assert.deepEqual((await readdir(sharedRootfsBase(root))).filter((n) => n.startsWith('.retired-')), []);
  });

  it('a tree that lost its record is retired, not deleted, and a new one built', async () => {
    const dir = await layer('lost', 'v1\n');
    const first = await ensureSharedRootfs(root, MANIFEST, [DIFF_A], [{ dir }]);
    const running = join(first.dir, 'file'); // a container would be running on this tree
    await rm(join(first.dir, '..', ROOTFS_RECORD));
    const rebuilt = await ensureSharedRootfs(root, MANIFEST, [DIFF_A], [{ dir }]);
    assert.equal(rebuilt.created, true);
    const retired = (await readdir(sharedRootfsBase(root))).filter((n) => n.startsWith('.retired-'));
    assert.equal(retired.length, 1, 'set aside in one rename');
    assert.equal(await readFile(join(sharedRootfsBase(root), retired[0] as string, 'rootfs', 'file'), 'utf8'), 'v1\n', 'its files are still there');
    assert.equal(await readFile(running, 'utf8'), 'v1\n', 'and the path holds the new tree');
  });

  it('reuses a tree whose record predates extractions (nothing known to compare)', async () => {
    const dir = await layer('old', 'x\n');
    assert.equal((await ensureSharedRootfs(root, MANIFEST, [DIFF_A], [{ dir }])).created, true);
    assert.equal((await ensureSharedRootfs(root, MANIFEST, [DIFF_A], [{ dir, extraction: '2026-01-01T00:00:00.000Z' }])).created, false);
  });
});
