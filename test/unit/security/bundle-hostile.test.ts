// A hostile rootfs meets the bundle renderer: keel reads the image's
// /etc/passwd and /etc/group (user lookup) and pre-creates mount points in the
// shared tree. Both must resolve as if the rootfs were `/`, never block on a
// FIFO or an endless file, and never read or create anything on the host.
// The host TRIPWIRE is checked after every test.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { lstat, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { ensureMountPoint, readFileInRoot, resolveUser } from '../../../src/bundle/index.ts';
import { ABSOLUTE_PATH } from '../../../src/manifest/constants.ts';
import { rejectsWith, useSandbox } from '../layer/helpers.ts';

const run = promisify(execFile);
const T = { timeout: 15_000 };

const sb = useSandbox();

async function rootfs(name: string): Promise<string> {
  const root = await sb.newDir(name);
  await mkdir(path.join(root, 'etc'));
  return root;
}

describe('user lookup in a hostile rootfs never leaves it and never blocks', () => {
  test('/etc/passwd symlinked to /dev/zero (endless read) is absent inside the rootfs', T, async () => {
    const root = await rootfs('zero');
    await symlink('/dev/zero', path.join(root, 'etc/passwd'));
    assert.equal(await readFileInRoot(root, '/etc/passwd', 1 << 20), undefined);
    // even with a real character device at the resolved place, keel reads only regular files
    await mkdir(path.join(root, 'dev'));
    await run('mknod', [path.join(root, 'dev/zero'), 'c', '1', '5']);
    await symlink('/dev/zero', path.join(root, 'etc/group'));
    assert.equal(await readFileInRoot(root, '/etc/group', 1 << 20), undefined);
    assert.equal((await resolveUser(root, '7:7')).uid, 7);
    await rejectsWith(resolveUser(root, 'daemon'), 'E_MANIFEST_INVALID', 5_000);
  });

  test('/etc/passwd symlinked to /proc/self/environ or ../../proc/self/mem is not the host\'s', T, async () => {
    const root = await rootfs('proc');
    await symlink('/proc/self/environ', path.join(root, 'etc/passwd'));
    await symlink('../../../../../proc/self/mem', path.join(root, 'etc/group'));
    assert.equal(await readFileInRoot(root, '/etc/passwd', 1 << 20), undefined);
    assert.equal(await readFileInRoot(root, '/etc/group', 1 << 20), undefined);
  });

  test('/etc/passwd symlinked to the host tripwire by absolute and climbing paths reads the rootfs file of that name', T, async () => {
    const root = await rootfs('host');
    await symlink(`${sb.outside}/tripwire`, path.join(root, 'etc/passwd'));
    await symlink(`../../../../../../../..${sb.outside}/tripwire`, path.join(root, 'etc/group'));
    assert.equal(await readFileInRoot(root, '/etc/passwd', 1 << 20), undefined);
    await mkdir(path.join(root, sb.outside), { recursive: true });
    await writeFile(path.join(root, sb.outside, 'tripwire'), 'inroot:x:5:5::/:/bin/sh\n');
    assert.equal((await readFileInRoot(root, '/etc/group', 1 << 20))?.toString(), 'inroot:x:5:5::/:/bin/sh\n');
    assert.equal((await resolveUser(root, 'inroot')).uid, 5);
  });

  test('/etc/passwd behind a chain of 40 long a/../a/.. links is refused at once, not walked for seconds', T, async () => {
    const root = await rootfs('walk-bomb');
    await mkdir(path.join(root, 'a'));
    for (let i = 0; i < 40; i++) await symlink(`${'a/../'.repeat(800)}${i === 39 ? 'etc/real' : `l${i + 1}`}`, path.join(root, `l${i}`));
    await writeFile(path.join(root, 'etc/real'), 'x:x:1:1::/:/bin/sh\n');
    await symlink('/l0', path.join(root, 'etc/passwd'));
    const started = Date.now();
    await rejectsWith(resolveUser(root, 'x'), 'E_LAYER_PATH', 5_000);
    await rejectsWith(ensureMountPoint(root, '/l0/sub', 'dir'), 'E_LAYER_PATH', 5_000);
    assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
  });

  test('/etc/passwd in a symlink loop is refused with E_LAYER_PATH', T, async () => {
    const root = await rootfs('loop');
    await symlink('group', path.join(root, 'etc/passwd'));
    await symlink('/etc/passwd', path.join(root, 'etc/group'));
    await rejectsWith(resolveUser(root, 'daemon'), 'E_LAYER_PATH');
  });

  test('/etc/passwd as a directory, FIFO or socket is absent (no hang, no raw errno)', T, async () => {
    const root = await rootfs('special');
    await mkdir(path.join(root, 'etc/passwd'));
    await run('mkfifo', [path.join(root, 'etc/group')]);
    assert.equal(await readFileInRoot(root, '/etc/passwd', 1 << 20), undefined);
    assert.equal(await readFileInRoot(root, '/etc/group', 1 << 20), undefined);
    const server = createServer();
    const sock = path.join(root, 'etc/shadow');
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      assert.equal(await readFileInRoot(root, '/etc/shadow', 1 << 20), undefined);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('an endless or huge /etc/passwd is refused by size before it is read', T, async () => {
    const root = await rootfs('huge');
    await run('truncate', ['-s', '10G', path.join(root, 'etc/passwd')]);
    await rejectsWith(resolveUser(root, 'daemon'), 'E_BODY_TOO_LARGE');
  });
});

describe('mount points are pre-created inside the rootfs only', () => {
  test('/etc/hosts as a symlink to /../../host/file creates nothing on the host', T, async () => {
    const root = await rootfs('hosts-escape');
    await symlink(`/../../..${sb.outside}/created-by-keel`, path.join(root, 'etc/hosts'));
    await rejectsWith(ensureMountPoint(root, '/etc/hosts', 'file'), 'E_LAYER_PATH');
    await assert.rejects(lstat(path.join(sb.outside, 'created-by-keel')), { code: 'ENOENT' });
  });

  test('/etc as a symlink to the host: a mount point under it is never created through it', T, async () => {
    for (const target of [sb.outside, `../../../../../../..${sb.outside}`]) {
      const root = await sb.newDir('etc-escape');
      await symlink(target, path.join(root, 'etc'));
      await rejectsWith(ensureMountPoint(root, '/etc/new-mount', 'dir'), 'E_LAYER_PATH');
      await rejectsWith(ensureMountPoint(root, '/etc/tripwire', 'file'), 'E_LAYER_PATH');
    }
  });

  test('/etc as an in-root symlink is followed inside the rootfs', T, async () => {
    const root = await sb.newDir('etc-inroot');
    await mkdir(path.join(root, 'real'));
    await symlink('/real', path.join(root, 'etc'));
    assert.equal(await ensureMountPoint(root, '/etc/hosts', 'file'), true);
    assert.ok((await lstat(path.join(root, 'real/hosts'))).isFile());
  });

  test('a mount target like /../../etc stays in the rootfs (and the manifest validator refuses it)', T, async () => {
    assert.equal(ABSOLUTE_PATH.test('/../../etc'), false);
    assert.equal(ABSOLUTE_PATH.test('/data/../etc'), false);
    const root = await sb.newDir('dotdot-target');
    await ensureMountPoint(root, `/../../..${sb.outside}/newdir`, 'dir');
    assert.ok((await lstat(path.join(root, sb.outside, 'newdir'))).isDirectory());
  });

  test('41 symlinks on the way to a mount point are refused', T, async () => {
    const root = await sb.newDir('mp-chain');
    for (let i = 0; i < 41; i++) await symlink(i === 40 ? '/' : `/l${i + 1}`, path.join(root, `l${i}`));
    await rejectsWith(ensureMountPoint(root, '/l0/x', 'dir'), 'E_LAYER_PATH');
  });

  test('an existing file at the mount point (a store inode in the shared tree) is never changed', T, async () => {
    const root = await rootfs('existing');
    await writeFile(path.join(root, 'etc/hosts'), 'image hosts\n', { mode: 0o640 });
    const before = await lstat(path.join(root, 'etc/hosts'));
    assert.equal(await ensureMountPoint(root, '/etc/hosts', 'file'), false);
    const afterSt = await lstat(path.join(root, 'etc/hosts'));
    assert.deepEqual([afterSt.ino, afterSt.mode, afterSt.mtimeMs], [before.ino, before.mode, before.mtimeMs]);
    assert.equal(await readFile(path.join(root, 'etc/hosts'), 'utf8'), 'image hosts\n');
    assert.deepEqual(await readdir(path.join(root, 'etc')), ['hosts']);
  });

  test('a file where the mount target needs a directory is refused', T, async () => {
    const root = await sb.newDir('file-parent');
    await writeFile(path.join(root, 'data'), 'x');
    await rejectsWith(ensureMountPoint(root, '/data/sub', 'dir'), 'E_LAYER_PATH');
  });
});
