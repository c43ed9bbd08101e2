// Host mount-source policy: create only with create: true, a clear E_MOUNT_SOURCE otherwise;
// sensitive sources (/proc, /sys, D-Bus, keel's own root, and paths containing it) refused unless
// allowSensitive, also when reached through a symlink; mount points made inside the rootfs only.

import assert from 'node:assert/strict';
import { lstat, mkdir, stat, symlink, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { isKeelError } from '../../../src/errors.ts';
import { checkMountSources, createMountSources, ensureMountPoint, sensitiveMatch } from '../../../src/bundle/index.ts';
import { specOf, tempDir } from './helpers.ts';

const mountSpec = (mount: string): string => `name: m\nimage: r.example/m:1\nmounts:\n  - ${mount}\n`;
const isMountSource = (e: unknown): boolean => isKeelError(e, 'E_MOUNT_SOURCE');

describe('mount sources', () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let keelRoot: string;
  before(async () => {
    tmp = await tempDir('keel-bundle-mounts-');
    keelRoot = `${tmp.path}/keel`;
    await mkdir(`${keelRoot}/layers`, { recursive: true });
  });
  after(async () => tmp.cleanup());

  it('a missing source is an error without create: true, and nothing is created', async () => {
    const src = `${tmp.path}/missing`;
    await assert.rejects(checkMountSources(specOf(mountSpec(`{ type: bind, source: ${src}, target: /data }`)), keelRoot), isMountSource);
    await assert.rejects(lstat(src), { code: 'ENOENT' });
  });

  it('with create: true a missing source is reported, then created as a 0755 directory', async () => {
    const src = `${tmp.path}/made/deep`;
    const states = await checkMountSources(specOf(mountSpec(`{ type: bind, source: ${src}, target: /data, create: true }`)), keelRoot);
    assert.deepEqual(states, [{ source: src, kind: 'missing' }]);
    await createMountSources([src]);
    const st = await stat(src);
    assert.ok(st.isDirectory());
    assert.equal(st.mode & 0o777, 0o755);
    await createMountSources([src]); // idempotent
  });

  it('reports files and directories as such', async () => {
    await mkdir(`${tmp.path}/dir`);
    await writeFile(`${tmp.path}/dir/file`, 'x');
    const states = await checkMountSources(specOf(`name: m\nimage: r.example/m:1\nmounts:\n  - { type: bind, source: ${tmp.path}/dir/file, target: /f }\n  - { type: bind, source: ${tmp.path}/dir, target: /d }\n`), keelRoot);
    assert.deepEqual(states.map((s) => s.kind), ['file', 'dir']);
  });

  it('refuses keel\'s own root, anything under it, and anything containing it', async () => {
    for (const src of [keelRoot, `${keelRoot}/layers`, tmp.path]) {
      await assert.rejects(checkMountSources(specOf(mountSpec(`{ type: bind, source: ${src}, target: /data }`)), keelRoot), isMountSource, src);
    }
    assert.equal(sensitiveMatch('/var', '/var/lib/keel'), '/var/lib/keel');
    assert.equal(sensitiveMatch('/run/dbus/system_bus_socket', '/x'), '/run/dbus');
    assert.equal(sensitiveMatch('/var/run/dbus', '/x'), '/var/run/dbus');
    assert.equal(sensitiveMatch('/proc/1', '/x'), '/proc');
    assert.equal(sensitiveMatch('/sys', '/x'), '/sys');
    assert.equal(sensitiveMatch('/run', '/x'), undefined);
    assert.equal(sensitiveMatch('/srv', '/x'), undefined);
  });

  it('refuses a sensitive source reached through a symlink (the real path is checked)', async () => {
    const link = `${tmp.path}-link-to-proc`;
    await symlink('/proc', link);
    try {
      await assert.rejects(checkMountSources(specOf(mountSpec(`{ type: bind, source: ${link}, target: /p }`)), keelRoot), (e: unknown) => {
        assert.ok(isMountSource(e));
        assert.match((e as Error).message, /really \/proc/);
        return true;
      });
      const ok = await checkMountSources(specOf(mountSpec(`{ type: bind, source: ${link}, target: /p, allowSensitive: true }`)), keelRoot);
      assert.equal(ok[0]?.kind, 'dir');
    } finally {
      await import('node:fs/promises').then((fs) => fs.rm(link, { force: true }));
    }
  });

  it('allowSensitive: true lets /sys through (the manifest refuses it without)', async () => {
    const states = await checkMountSources(specOf(mountSpec('{ type: bind, source: /sys, target: /sys, allowSensitive: true }')), keelRoot);
    assert.equal(states[0]?.kind, 'dir');
  });
});

describe('ensureMountPoint', () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  before(async () => {
    tmp = await tempDir('keel-bundle-mountpoint-');
  });
  after(async () => tmp.cleanup());

  it('creates directories and files inside the root, through in-root symlinks, never outside', async () => {
    const root = `${tmp.path}/root`;
    const outside = `${tmp.path}/outside`;
    await mkdir(`${root}/run`, { recursive: true });
    await mkdir(outside);
    await symlink('/run', `${root}/varrun`);
    await symlink(outside, `${root}/escape`);
    assert.equal(await ensureMountPoint(root, '/var/lib/etcd', 'dir'), true);
    assert.ok((await stat(`${root}/var/lib/etcd`)).isDirectory());
    assert.equal(await ensureMountPoint(root, '/var/lib/etcd', 'dir'), false);
    await ensureMountPoint(root, '/varrun/x', 'dir');
    assert.ok((await stat(`${root}/run/x`)).isDirectory());
    await ensureMountPoint(root, '/etc/hosts', 'file');
    assert.ok((await stat(`${root}/etc/hosts`)).isFile());
    // An absolute symlink is re-rooted: creating through it stays inside (HOST PATH WAS CHANGED otherwise).
    await assert.rejects(ensureMountPoint(root, '/escape/data', 'dir'), (e: unknown) => isKeelError(e, 'E_LAYER_PATH'));
    await assert.rejects(lstat(`${outside}/data`), { code: 'ENOENT' });
  });
});
