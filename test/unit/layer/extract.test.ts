// extractLayer on well-formed layers: what lands on disk (modes, owners,
// times, links, markers, names) for plain, gzip and zstd input.

import assert from 'node:assert/strict';
import { lstat, readFile, readlink, readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_LIMITS } from '../../../src/layer/index.ts';
import { END, blockData, extractTar, makeSandbox, packTar, paxData, rawHeader, type Sandbox } from './helpers.ts';

let sb: Sandbox;
before(async () => {
  sb = await makeSandbox();
});
after(async () => {
  await sb.checkTripwire();
  await sb.cleanup();
});

const T1 = new Date(1_500_000_000_000);
const T2 = new Date(1_400_000_000_000);

describe('extractLayer', () => {
  test('keeps all 12 mode bits and numeric owners', async () => {
    const dir = await sb.newDir('modes');
    const x = paxData({ uid: '3000000', gid: '3000001' });
    const tar = Buffer.concat([
      await packTar([
        { name: 'bin/', type: 'directory', mode: 0o755 },
        { name: 'bin/su', data: 'su', mode: 0o4755 },
        { name: 'bin/wall', data: 'wall', mode: 0o2755, gid: 5 },
        { name: 'tmp/', type: 'directory', mode: 0o1777 },
        { name: 'secret', data: 's', mode: 0o600, uid: 1000, gid: 1000 },
      ]).then((t) => t.subarray(0, t.length - 1024)),
      rawHeader({ name: 'P', typeflag: 'x', size: x.length }),
      blockData(x),
      rawHeader({ name: 'big-uid', size: 0, uid: 7, gid: 7 }),
      END,
    ]);
    await extractTar(tar, dir);
    const mode = async (p: string): Promise<number> => (await lstat(path.join(dir, p))).mode & 0o7777;
    assert.equal(await mode('bin/su'), 0o4755);
    assert.equal(await mode('bin/wall'), 0o2755);
    assert.equal((await lstat(path.join(dir, 'bin/wall'))).gid, 5);
    assert.equal(await mode('tmp'), 0o1777);
    assert.equal(await mode('secret'), 0o600);
    const st = await lstat(path.join(dir, 'secret'));
    assert.deepEqual([st.uid, st.gid], [1000, 1000]);
    const big = await lstat(path.join(dir, 'big-uid'));
    assert.deepEqual([big.uid, big.gid], [3000000, 3000001]);
  });

  test('keeps symlinks (relative, absolute, dangling) as they are, with owner and mtime', async () => {
    const dir = await sb.newDir('symlinks');
    await extractTar(
      await packTar([
        { name: 'rel', type: 'symlink', linkname: '../usr/lib' },
        { name: 'abs', type: 'symlink', linkname: '/etc/os-release', uid: 1000, gid: 1001, mtime: T1 },
        { name: 'dangling', type: 'symlink', linkname: 'nowhere/at/all' },
      ]),
      dir,
    );
    assert.equal(await readlink(path.join(dir, 'rel')), '../usr/lib');
    assert.equal(await readlink(path.join(dir, 'abs')), '/etc/os-release');
    assert.equal(await readlink(path.join(dir, 'dangling')), 'nowhere/at/all');
    const st = await lstat(path.join(dir, 'abs'));
    assert.deepEqual([st.uid, st.gid, st.mtimeMs], [1000, 1001, T1.getTime()]);
  });

  test('sets mtimes on files and directories (directories after their children)', async () => {
    const dir = await sb.newDir('mtimes');
    await extractTar(
      await packTar([
        { name: 'd/', type: 'directory', mtime: T2 },
        { name: 'd/e/', type: 'directory', mtime: T1 },
        { name: 'd/e/f', data: 'f', mtime: T1 },
        { name: 'd/g', data: 'g', mtime: T2 },
      ]),
      dir,
    );
    for (const [p, t] of [['d', T2], ['d/e', T1], ['d/e/f', T1], ['d/g', T2]] as const) {
      assert.equal((await lstat(path.join(dir, p))).mtimeMs, t.getTime(), p);
    }
  });

  test('hardlinks share the inode; whiteouts stay as empty mode-0 markers; FIFOs are made', async () => {
    const dir = await sb.newDir('links');
    const stats = await extractTar(
      await packTar([
        { name: 'a', data: 'data', mode: 0o640 },
        { name: 'b', type: 'link', linkname: 'a' },
        { name: 'sub/c', type: 'link', linkname: '/a' },
        { name: 'gone/.wh.old', data: '' },
        { name: 'gone/.wh..wh..opq', data: '' },
        { name: 'pipe', type: 'fifo', mode: 0o620, uid: 1000, gid: 1000, mtime: T1 },
      ]),
      dir,
    );
    assert.equal(stats.entries, 6);
    const a = await lstat(path.join(dir, 'a'));
    assert.equal(a.nlink, 3);
    assert.equal((await lstat(path.join(dir, 'b'))).ino, a.ino);
    assert.equal((await lstat(path.join(dir, 'sub/c'))).ino, a.ino);
    for (const m of ['gone/.wh.old', 'gone/.wh..wh..opq']) {
      const st = await lstat(path.join(dir, m));
      assert.ok(st.isFile());
      assert.deepEqual([st.size, st.mode & 0o7777], [0, 0]);
    }
    const pipe = await lstat(path.join(dir, 'pipe'));
    assert.ok(pipe.isFIFO());
    assert.deepEqual([pipe.mode & 0o7777, pipe.uid, pipe.mtimeMs], [0o620, 1000, T1.getTime()]);
    // an implicit parent is a plain 0755 directory
    assert.equal((await lstat(path.join(dir, 'gone'))).mode & 0o7777, 0o755);
  });

  test('a later entry replaces an earlier one: file by dir, dir by file, dir kept for dir', async () => {
    const dir = await sb.newDir('replace');
    await extractTar(
      await packTar([
        { name: 'x', data: 'file' },
        { name: 'x/', type: 'directory', mode: 0o700 },
        { name: 'x/inner', data: 'i' },
        { name: 'y/', type: 'directory' },
        { name: 'y/child', data: 'c' },
        { name: 'y', data: 'now a file' },
        { name: 'x/', type: 'directory', mode: 0o711 },
      ]),
      dir,
    );
    assert.equal((await lstat(path.join(dir, 'x'))).mode & 0o7777, 0o711);
    assert.equal(await readFile(path.join(dir, 'x/inner'), 'utf8'), 'i');
    assert.equal(await readFile(path.join(dir, 'y'), 'utf8'), 'now a file');
  });

  test('long (200-char) and non-ASCII names', async () => {
    const dir = await sb.newDir('names');
    const long = 'l'.repeat(200);
    const names = [long, `deep/${long}/${'m'.repeat(200)}`, 'café/naïve-日本語.txt', 'emoji-🚀'];
    await extractTar(await packTar(names.map((name) => ({ name, data: name }))), dir);
    for (const name of names) assert.equal(await readFile(path.join(dir, name), 'utf8'), name);
    assert.equal(await readlink(path.join(dir, 'emoji-🚀')).catch(() => 'not a link'), 'not a link');
  });

  test('plain, gzip and zstd give the same tree and stats', async () => {
    const tar = await packTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/big', data: Buffer.alloc(3 * 1024 * 1024 + 17, 7) },
      { name: 'etc/small', data: 'small' },
    ]);
    for (const compression of ['none', 'gzip', 'zstd'] as const) {
      const dir = await sb.newDir(compression);
      const stats = await extractTar(tar, dir, { compression });
      assert.equal(stats.uncompressedBytes, tar.length);
      assert.equal(stats.entries, 3);
      assert.deepEqual(stats.warnings, []);
      assert.deepEqual((await readdir(path.join(dir, 'etc'))).sort(), ['big', 'small']);
      const big = await readFile(path.join(dir, 'etc/big'));
      assert.equal(big.length, 3 * 1024 * 1024 + 17);
      assert.ok(big.every((b) => b === 7));
    }
  });

  test('DEFAULT_LIMITS are the documented values', () => {
    assert.deepEqual({ ...DEFAULT_LIMITS }, {
      maxEntries: 1_000_000,
      maxDepth: 128,
      maxPathLength: 4096,
      maxNameLength: 255,
      maxRatio: 1000,
      maxPaxHeaderSize: 1024 * 1024,
    });
  });
});
