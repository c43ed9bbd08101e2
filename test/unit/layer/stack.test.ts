// stackLayers: OCI whiteout semantics across layers, metadata and hardlink
// groups in copy mode, shared inodes in hardlink mode, and the attacks that go
// through a symlink a lower layer planted.

import assert from 'node:assert/strict';
import { lstat, readFile, readlink, readdir, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { stackLayers } from '../../../src/layer/index.ts';
import { extractTar, packTar, rejectsWith, type PackEntry, useSandbox } from './helpers.ts';

const sb = useSandbox();

const T1 = new Date(1_500_000_000_000);
const T2 = new Date(1_400_000_000_000);

async function layers(...specs: PackEntry[][]): Promise<string[]> {
  const dirs: string[] = [];
  for (const spec of specs) {
    const dir = await sb.newDir('layer');
    await extractTar(await packTar(spec), dir);
    dirs.push(dir);
  }
  return dirs;
}

async function tree(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(path.join(root, rel))).sort()) {
    const p = rel === '' ? name : `${rel}/${name}`;
    const st = await lstat(path.join(root, p));
    out.push(st.isDirectory() ? `${p}/` : p);
    if (st.isDirectory()) out.push(...(await tree(root, p)));
  }
  return out;
}

describe('stackLayers', () => {
  test('whiteout and opaque semantics across 3 layers', async () => {
    const dirs = await layers(
      [
        { name: 'etc/', type: 'directory' },
        { name: 'etc/keep', data: '1' },
        { name: 'etc/remove-me', data: '1' },
        { name: 'opaque/', type: 'directory' },
        { name: 'opaque/old1', data: '1' },
        { name: 'opaque/sub/old2', data: '1' },
        { name: 'tree/', type: 'directory' },
        { name: 'tree/deep/file', data: '1' },
      ],
      [
        { name: 'etc/.wh.remove-me', data: '' },
        { name: 'etc/added', data: '2' },
        { name: 'opaque/.wh..wh..opq', data: '' },
        { name: 'opaque/new', data: '2' },
        { name: '.wh.tree', data: '' },
        { name: '.wh.never-existed', data: '' },
      ],
      [
        { name: 'etc/.wh.added', data: '' },
        { name: 'etc/added', data: '3' }, // same layer: the whiteout acts on the layers below only
        { name: 'tree/', type: 'directory' },
        { name: 'tree/fresh', data: '3' },
      ],
    );
    const rootfs = path.join(await sb.newDir('rootfs'), 'rootfs');
    const stats = await stackLayers(dirs, rootfs, { mode: 'copy' });
    assert.deepEqual(await tree(rootfs), ['etc/', 'etc/added', 'etc/keep', 'opaque/', 'opaque/new', 'tree/', 'tree/fresh']);
    assert.equal(await readFile(path.join(rootfs, 'etc/added'), 'utf8'), '3');
    assert.ok(stats.entries >= 7);
    const root = await lstat(rootfs);
    assert.deepEqual([root.mode & 0o7777, root.uid, root.gid], [0o755, 0, 0]);
  });

  test('copy mode preserves modes, owners, mtimes and hardlink groups', async () => {
    const dirs = await layers([
      { name: 'bin/', type: 'directory', mode: 0o755, mtime: T2 },
      { name: 'bin/su', data: 'su', mode: 0o4755, mtime: T1 },
      { name: 'bin/su-again', type: 'link', linkname: 'bin/su' },
      { name: 'tmp/', type: 'directory', mode: 0o1777, mtime: T1 },
      { name: 'home/u/secret', data: 's', mode: 0o600, uid: 1000, gid: 1000, mtime: T2 },
      { name: 'link', type: 'symlink', linkname: '/bin/su', uid: 1000, mtime: T1 },
      { name: 'pipe', type: 'fifo', mode: 0o644 },
    ]);
    const rootfs = await sb.newDir('rootfs-copy'); // an existing empty dir is fine
    const stats = await stackLayers(dirs, rootfs, { mode: 'copy' });
    const st = (p: string) => lstat(path.join(rootfs, p));
    assert.equal((await st('bin/su')).mode & 0o7777, 0o4755);
    assert.equal((await st('bin/su')).mtimeMs, T1.getTime());
    assert.equal((await st('bin')).mtimeMs, T2.getTime());
    assert.equal((await st('tmp')).mode & 0o7777, 0o1777);
    const secret = await st('home/u/secret');
    assert.deepEqual([secret.mode & 0o7777, secret.uid, secret.gid, secret.mtimeMs], [0o600, 1000, 1000, T2.getTime()]);
    const link = await st('link');
    assert.ok(link.isSymbolicLink());
    assert.deepEqual([await readlink(path.join(rootfs, 'link')), link.uid, link.mtimeMs], ['/bin/su', 1000, T1.getTime()]);
    assert.ok((await st('pipe')).isFIFO());
    // the group stays a group, and does not share the layer's inode
    const su = await st('bin/su');
    assert.equal((await st('bin/su-again')).ino, su.ino);
    assert.equal(su.nlink, 2);
    assert.notEqual(su.ino, (await lstat(path.join(dirs[0] as string, 'bin/su'))).ino);
    assert.equal(stats.bytes, 3);
  });

  test('hardlink mode shares inodes with the layer dirs; directories are fresh', async () => {
    const dirs = await layers([
      { name: 'usr/', type: 'directory', mode: 0o750 },
      { name: 'usr/lib', data: 'lib' },
      { name: 'usr/l', type: 'symlink', linkname: 'lib' },
    ]);
    const rootfs = path.join(await sb.newDir('rootfs-hl'), 'r');
    await stackLayers(dirs, rootfs, { mode: 'hardlink' });
    const layer = dirs[0] as string;
    assert.equal((await lstat(path.join(rootfs, 'usr/lib'))).ino, (await lstat(path.join(layer, 'usr/lib'))).ino);
    assert.equal((await lstat(path.join(rootfs, 'usr/l'))).ino, (await lstat(path.join(layer, 'usr/l'))).ino);
    assert.notEqual((await lstat(path.join(rootfs, 'usr'))).ino, (await lstat(path.join(layer, 'usr'))).ino);
    assert.equal((await lstat(path.join(rootfs, 'usr'))).mode & 0o7777, 0o750);
  });

  test('a file replaced by a dir and vice versa across layers', async () => {
    const dirs = await layers(
      [
        { name: 'a', data: 'file' },
        { name: 'b/', type: 'directory' },
        { name: 'b/child', data: 'c' },
        { name: 'c', type: 'symlink', linkname: '/b' },
      ],
      [
        { name: 'a/', type: 'directory' },
        { name: 'a/inside', data: 'i' },
        { name: 'b', data: 'now a file' },
        { name: 'c/', type: 'directory', mode: 0o700 },
      ],
    );
    const rootfs = path.join(await sb.newDir('rootfs-replace'), 'r');
    await stackLayers(dirs, rootfs, { mode: 'copy' });
    assert.deepEqual(await tree(rootfs), ['a/', 'a/inside', 'b', 'c/']);
    assert.equal(await readFile(path.join(rootfs, 'b'), 'utf8'), 'now a file');
  });

  test('a non-empty rootfs is refused', async () => {
    const rootfs = await sb.newDir('rootfs-full');
    await writeFile(path.join(rootfs, 'x'), 'x');
    await rejectsWith(stackLayers([], rootfs, { mode: 'copy' }), 'E_BUNDLE_EXISTS');
  });

  test('symlink in layer 1 then write through it in layer 2 (stackLayers)', async () => {
    // layer 2 is built by hand: a directory named like layer 1's symlink, as a layer dir can hold
    const [l1] = await layers([
      { name: 'evil', type: 'symlink', linkname: sb.outside },
      { name: 'rel', type: 'symlink', linkname: '../../../../../../../../..' + sb.outside },
    ]);
    const l2 = await sb.newDir('layer-hand');
    await mkdir(path.join(l2, 'evil'));
    await writeFile(path.join(l2, 'evil/tripwire'), 'pwned');
    const [l2b] = await layers([{ name: 'rel/tripwire', data: 'pwned' }]);
    const rootfs = path.join(await sb.newDir('rootfs-evil'), 'r');
    await stackLayers([l1 as string, l2, l2b as string], rootfs, { mode: 'copy' });
    assert.equal(await readFile(path.join(rootfs, 'evil/tripwire'), 'utf8'), 'pwned');
    assert.ok((await lstat(path.join(rootfs, 'evil'))).isDirectory());
  });

  test('whiteout through a symlink', async () => {
    const [l1] = await layers([
      { name: 'real/victim', data: 'v' },
      { name: 'real/keep', data: 'k' },
      { name: 'inroot', type: 'symlink', linkname: '/real' },
      { name: 'host', type: 'symlink', linkname: sb.outside },
      { name: 'hostfile', type: 'symlink', linkname: `${sb.outside}/tripwire` },
    ]);
    const l2 = await sb.newDir('layer-wh');
    for (const d of ['inroot', 'host']) await mkdir(path.join(l2, d));
    await writeFile(path.join(l2, 'inroot/.wh.victim'), '');
    await writeFile(path.join(l2, 'host/.wh.tripwire'), '');
    await writeFile(path.join(l2, 'host/.wh.dir'), '');
    await writeFile(path.join(l2, '.wh.hostfile'), '');
    const l3 = await sb.newDir('layer-opq');
    await mkdir(path.join(l3, 'host'));
    await writeFile(path.join(l3, 'host/.wh..wh..opq'), '');
    const rootfs = path.join(await sb.newDir('rootfs-wh'), 'r');
    await stackLayers([l1 as string, l2, l3], rootfs, { mode: 'copy' });
    // resolved inside the rootfs: the whiteout reached real/victim through the in-root link
    assert.deepEqual(await readdir(path.join(rootfs, 'real')), ['keep']);
    // a whited-out symlink is removed itself; its target is untouched (checked by the tripwire)
    await assert.rejects(lstat(path.join(rootfs, 'hostfile')), { code: 'ENOENT' });
  });

  test('chmod through a symlink (stackLayers)', async () => {
    const [l1, l2] = await layers(
      [{ name: 'd', type: 'symlink', linkname: `${sb.outside}/dir` }, { name: 'f', type: 'symlink', linkname: `${sb.outside}/tripwire` }],
      [{ name: 'd/', type: 'directory', mode: 0o777, uid: 1234 }, { name: 'f', data: 'x', mode: 0o4777 }],
    );
    const rootfs = path.join(await sb.newDir('rootfs-chmod'), 'r');
    await stackLayers([l1 as string, l2 as string], rootfs, { mode: 'copy' });
    const d = await lstat(path.join(rootfs, 'd'));
    assert.ok(d.isDirectory());
    assert.deepEqual([d.mode & 0o7777, d.uid], [0o777, 1234]);
    assert.ok((await lstat(path.join(rootfs, 'f'))).isFile());
  });

  test('an aborted stack rejects with E_INTERRUPTED', async () => {
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(stackLayers([], path.join(await sb.newDir('rootfs-abort'), 'r'), { mode: 'copy', signal: controller.signal }), 'E_INTERRUPTED');
  });

  test('an invalid whiteout name in a layer dir is refused', async () => {
    const l = await sb.newDir('layer-badwh');
    await writeFile(path.join(l, '.wh..wh.bogus'), '');
    await rejectsWith(stackLayers([l], path.join(await sb.newDir('rootfs-badwh'), 'r'), { mode: 'copy' }), 'E_LAYER_WHITEOUT');
  });
});
