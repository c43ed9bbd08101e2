// Hostile layer STACKS: attacks that need two or more layers (a lower layer
// plants a symlink, an upper layer writes, whites out or marks opaque through
// it), each run in both stackLayers modes ('copy' for `keel unpack`,
// 'hardlink' for the shared per-image tree). Each test checks the host
// TRIPWIRE; the hardlink-mode tests also check that stacking never changes the
// store's extracted layer directories, whose inodes the tree shares.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { lstat, mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { stackLayers, type StackLayer } from '../../../src/layer/index.ts';
import { extractTar, packTar, rejectsWith, type PackEntry, useSandbox } from '../layer/helpers.ts';

const run = promisify(execFile);
const MODES = ['copy', 'hardlink'] as const;

const sb = useSandbox();

/** Extracts each spec as keel does (implicit directories recorded). */
async function layers(...specs: PackEntry[][]): Promise<StackLayer[]> {
  const out: StackLayer[] = [];
  for (const spec of specs) {
    const dir = await sb.newDir('layer');
    const stats = await extractTar(await packTar(spec), dir);
    out.push({ dir, implicitDirs: stats.implicitDirs });
  }
  return out;
}

/** Everything about a tree that a write through a shared inode would change (not ctime or nlink). */
async function snapshot(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(path.join(dir, rel))).sort()) {
    const p = rel === '' ? name : `${rel}/${name}`;
    const abs = path.join(dir, p);
    const st = await lstat(abs);
    let content = '';
    if (st.isFile()) content = createHash('sha256').update(await readFile(abs)).digest('hex');
    else if (st.isSymbolicLink()) content = await readlink(abs);
    out.push(`${p} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${st.ino} ${content}`);
    if (st.isDirectory()) out.push(...(await snapshot(dir, p)));
  }
  return out;
}

async function stackChecked(ls: StackLayer[], mode: (typeof MODES)[number], name: string): Promise<string> {
  const before = await Promise.all(ls.map((l) => snapshot(l.dir)));
  const rootfs = path.join(await sb.newDir(name), 'rootfs');
  try {
    await stackLayers(ls, rootfs, { mode });
  } finally {
    const afterSnap = await Promise.all(ls.map((l) => snapshot(l.dir)));
    assert.deepEqual(afterSnap, before, 'STORE LAYER WAS CHANGED by stacking');
  }
  return rootfs;
}

for (const mode of MODES) {
  describe(`stackLayers (${mode}) refuses or confines hostile stacks`, () => {
    test('symlink chain across layers (a->b, b->c, c->host) then a write is confined', async () => {
      const ls = await layers(
        [{ name: 'a', type: 'symlink', linkname: 'b' }],
        [{ name: 'b', type: 'symlink', linkname: '/c' }],
        [{ name: 'c', type: 'symlink', linkname: sb.outside }],
        [{ name: 'a/tripwire', data: 'pwned', mode: 0o4777 }],
      );
      const rootfs = await stackChecked(ls, mode, 'chain');
      assert.equal(await readFile(path.join(rootfs, sb.outside, 'tripwire'), 'utf8'), 'pwned');
      assert.equal(await readlink(path.join(rootfs, 'a')), 'b');
    });

    test('symlink loop built across layers is refused', async () => {
      const ls = await layers([{ name: 'a', type: 'symlink', linkname: 'b' }], [{ name: 'b', type: 'symlink', linkname: 'a' }], [{ name: 'a/x', data: 'x' }]);
      const rootfs = path.join(await sb.newDir('loop'), 'rootfs');
      await rejectsWith(stackLayers(ls, rootfs, { mode }), 'E_LAYER_PATH');
    });

    test('41 symlinks chained across two layers are refused', async () => {
      const links = Array.from({ length: 41 }, (_, i) => ({ name: `l${i}`, type: 'symlink' as const, linkname: i === 40 ? '/real' : `l${i + 1}` }));
      const ls = await layers([{ name: 'real/', type: 'directory' }, ...links.slice(0, 20)], links.slice(20), [{ name: 'l0/x', data: 'x' }]);
      await rejectsWith(stackLayers(ls, path.join(await sb.newDir('chain41'), 'rootfs'), { mode }), 'E_LAYER_PATH');
    });

    test('a lower layer link chain that makes each upper entry walk thousands of components is refused at once', async () => {
      const links = Array.from({ length: 40 }, (_, i) => ({ name: `l${i}`, type: 'symlink' as const, linkname: `${'a/../'.repeat(100)}${i === 39 ? 'a' : `l${i + 1}`}` }));
      const ls = await layers([{ name: 'a/', type: 'directory' }, ...links], [{ name: 'l0/x/f', data: '' }]);
      const started = Date.now();
      await rejectsWith(stackLayers(ls, path.join(await sb.newDir('walk-bomb'), 'rootfs'), { mode }), 'E_LAYER_PATH', 5_000);
      assert.ok(Date.now() - started < 5_000);
    });

    test('.. in a lower layer symlink target climbs no higher than the rootfs', async () => {
      const ls = await layers(
        [{ name: 'x/y/up', type: 'symlink', linkname: `${'../'.repeat(40)}${path.relative('/', sb.outside)}` }],
        [{ name: 'x/y/up/tripwire', data: 'pwned' }, { name: 'x/y/up/dir/', type: 'directory', mode: 0o777, uid: 4242 }],
      );
      const rootfs = await stackChecked(ls, mode, 'dotdot');
      assert.equal(await readFile(path.join(rootfs, sb.outside, 'tripwire'), 'utf8'), 'pwned');
      assert.equal((await lstat(path.join(rootfs, sb.outside, 'dir'))).uid, 4242);
    });

    test('a whiteout whose parent is a symlink to the host removes nothing outside', async () => {
      const ls = await layers(
        [
          { name: 'etc', type: 'symlink', linkname: sb.outside },
          { name: 'up', type: 'symlink', linkname: `../../../../../..${sb.outside}` },
        ],
        [{ name: 'etc/.wh.tripwire' }, { name: 'etc/.wh.dir' }, { name: 'up/.wh.tripwire' }],
      );
      const rootfs = await stackChecked(ls, mode, 'wh-parent');
      assert.ok((await lstat(path.join(rootfs, 'up'))).isSymbolicLink());
    });

    test('an opaque marker in a directory that is a symlink in a lower layer empties only the rootfs', async () => {
      const ls = await layers(
        [
          { name: 'real/keep', data: 'k' },
          { name: 'host', type: 'symlink', linkname: sb.outside },
          { name: 'inroot', type: 'symlink', linkname: '../real' },
        ],
        [{ name: 'host/.wh..wh..opq' }, { name: 'inroot/.wh..wh..opq' }, { name: 'inroot/new', data: 'n' }],
      );
      const rootfs = await stackChecked(ls, mode, 'opq-symlink');
      // the opaque marker acted on what the path resolves to inside the rootfs
      assert.deepEqual(await readdir(path.join(rootfs, 'real')), ['new']);
    });

    test('whiting out a symlink to the host unlinks the link only', async () => {
      const ls = await layers(
        [{ name: 'hostdir', type: 'symlink', linkname: sb.outside }, { name: 'hostfile', type: 'symlink', linkname: `${sb.outside}/tripwire` }],
        [{ name: '.wh.hostdir' }, { name: '.wh.hostfile' }],
      );
      const rootfs = await stackChecked(ls, mode, 'wh-symlink');
      assert.deepEqual(await readdir(rootfs), []);
    });

    test('an upper file over a lower symlink to the host replaces the link (no chmod/chown/write through it)', async () => {
      const ls = await layers(
        [{ name: 'f', type: 'symlink', linkname: `${sb.outside}/tripwire` }, { name: 'd', type: 'symlink', linkname: `${sb.outside}/dir` }],
        [{ name: 'f', data: 'x', mode: 0o6777, uid: 1 }, { name: 'd/', type: 'directory', mode: 0o777, uid: 1 }, { name: 'p', type: 'fifo' }],
      );
      const rootfs = await stackChecked(ls, mode, 'over-symlink');
      assert.ok((await lstat(path.join(rootfs, 'f'))).isFile());
      assert.ok((await lstat(path.join(rootfs, 'd'))).isDirectory());
    });

    test('an upper layer that rewrites, re-modes, whites out and replaces lower files never changes the stored lower layer', async () => {
      const ls = await layers(
        [
          { name: 'etc/passwd', data: 'root:x:0:0::/:/bin/sh\n', mode: 0o644 },
          { name: 'bin/su', data: 'su', mode: 0o4755 },
          { name: 'lib/a', data: 'a' },
          { name: 'lib/b', type: 'link', linkname: 'lib/a' },
          { name: 'gone/x', data: 'x' },
          { name: 'opq/y', data: 'y' },
        ],
        [
          { name: 'etc/passwd', data: 'pwned', mode: 0o666, uid: 1000 },
          { name: 'bin/su', type: 'directory' },
          { name: 'lib/b', data: 'b only' },
          { name: '.wh.gone' },
          { name: 'opq/.wh..wh..opq' },
        ],
      );
      const rootfs = await stackChecked(ls, mode, 'store-intact');
      assert.equal(await readFile(path.join(rootfs, 'etc/passwd'), 'utf8'), 'pwned');
      assert.equal(await readFile(path.join(rootfs, 'lib/a'), 'utf8'), 'a');
      assert.equal(await readFile(path.join(rootfs, 'lib/b'), 'utf8'), 'b only');
    });

    test('a FIFO in the tree is the rootfs\'s own, never the stored layer\'s inode (no channel between containers)', async () => {
      const ls = await layers([{ name: 'run/initctl', type: 'fifo', mode: 0o600 }]);
      const one = await stackChecked(ls, mode, 'fifo1');
      const two = await stackChecked(ls, mode, 'fifo2');
      const stored = await lstat(path.join((ls[0] as StackLayer).dir, 'run/initctl'));
      const a = await lstat(path.join(one, 'run/initctl'));
      const b = await lstat(path.join(two, 'run/initctl'));
      assert.ok(a.isFIFO() && b.isFIFO());
      assert.notEqual(a.ino, stored.ino, 'the rootfs FIFO shares the store inode');
      assert.notEqual(a.ino, b.ino, 'two trees share one FIFO');
      assert.equal(a.mode & 0o7777, 0o600);
    });

    test('a layer directory holding a device node (planted after extraction) is refused', async () => {
      const l = await sb.newDir('layer-dev');
      await run('mknod', [path.join(l, 'null'), 'c', '1', '3']);
      await rejectsWith(stackLayers([l], path.join(await sb.newDir('dev'), 'rootfs'), { mode }), 'E_LAYER_UNSUPPORTED');
    });

    test('a layer directory named like a whiteout or opaque marker is refused', async () => {
      for (const name of ['.wh.x', '.wh..wh..opq']) {
        const l = await sb.newDir('layer-whdir');
        await mkdir(path.join(l, name));
        await writeFile(path.join(l, name, 'f'), 'f');
        await rejectsWith(stackLayers([l], path.join(await sb.newDir('whdir'), 'rootfs'), { mode }), 'E_LAYER_WHITEOUT');
      }
    });
  });
}
