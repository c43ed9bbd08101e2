// A writable container whose store is on overlayfs (keel in a container, a
// live system): overlayfs cannot use a directory on overlayfs as its upper
// layer. keel must say so, with its own code and what to do, before mount(8)
// answers with a misleading error (the code was E_PERMISSION, "run as root").
// Real overlayfs under /var/tmp (needs root); the decision itself is also
// checked with the filesystem type injected.

import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { UNFIT_UPPER_FILESYSTEMS, isMountPoint, overlayUpperProblem } from '../../../src/bundle/overlay.ts';
import { DEFAULT_CONFIG } from '../../../src/config/index.ts';
import { CODES, Exit } from '../../../src/errors.ts';
import { parseManifestText, type ContainerSpec } from '../../../src/manifest/index.ts';
import { pullImage } from '../../../src/ops/pull.ts';
import { prepareRootfs, releaseRootfs, renderContainer } from '../../../src/ops/render.ts';
import { Store } from '../../../src/store/index.ts';
import { rejectsWith } from '../../unit/layer/helpers.ts';
import { buildImage, buildTar, layoutEntries, writeTree } from '../../unit/transport/fixtures.ts';

const execFile = promisify(execFileCb);
const OVERLAYFS = 0x794c7630;
const EXT4 = 0xef53;

describe('the decision (filesystem type injected)', () => {
  test('overlayfs, NFS and FAT are refused as upper with E_OVERLAY_UPPER_UNSUPPORTED (exit 78); ext4, xfs, btrfs, tmpfs are not', () => {
    for (const [type, name] of [[OVERLAYFS, 'overlayfs'], [0x6969, 'NFS'], [0x4d44, 'FAT']] as const) {
      const e = overlayUpperProblem(type, '/s/upper', '/s/bundle');
      assert.equal(e?.code, 'E_OVERLAY_UPPER_UNSUPPORTED', name);
      assert.match(e.message, new RegExp(`/s/upper is on ${name}, which overlayfs cannot use as its upper layer`));
      assert.match(e.hint ?? '', /\(--root\) on a local disk filesystem .* or give the container readOnlyRootfs: true/);
    }
    for (const type of [EXT4, 0x58465342, 0x9123683e, 0x01021994]) assert.equal(overlayUpperProblem(type, '/s/upper', '/s/bundle'), undefined);
    assert.equal(CODES.E_OVERLAY_UPPER_UNSUPPORTED.exit, Exit.CONFIG);
    assert.equal(UNFIT_UPPER_FILESYSTEMS.get(OVERLAYFS), 'overlayfs');
  });
});

describe('a store on a real overlayfs', { timeout: 120_000 }, () => {
  let base: string;
  let merged: string;
  let image: string;

  before(async () => {
    assert.equal(process.geteuid?.(), 0, 'this test mounts overlayfs: run it as root');
    base = await mkdtemp('/var/tmp/keel-overlay-upper-');
    for (const d of ['lower', 'upper', 'work', 'merged']) await mkdir(path.join(base, d));
    merged = path.join(base, 'merged');
    await execFile('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${base}/lower,upperdir=${base}/upper,workdir=${base}/work`, merged]);
    const built = buildImage([buildTar([{ name: 'etc/hostname', data: 'x\n' }])]);
    await writeTree(path.join(base, 'layout'), layoutEntries([{ tag: 't', desc: built.manifest }], [built.blobs]));
    image = `oci:${base}/layout:t`;
  });
  after(async () => {
    if (base === undefined) return;
    for (const dir of await readdir(path.join(merged, 'keel/containers'), { recursive: true }).catch(() => [])) {
      const p = path.join(merged, 'keel/containers', dir);
      if (p.endsWith('/rootfs') && (await isMountPoint(p))) await execFile('umount', [p]).catch(() => undefined);
    }
    await execFile('umount', [merged]).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  });

  async function writableBundle(root: string, name: string): Promise<string> {
    const store = await Store.open(root, { create: true });
    await pullImage(store, image, { source: { registry: { config: DEFAULT_CONFIG } } });
    const r = parseManifestText(`name: ${name}\nimage: ${image}\ncommand: [/bin/true]\nreadOnlyRootfs: false\nresources: { nofile: 1024 }\n`, 'it.yaml', { builtins: { HOSTNAME: 'node1' } });
    assert.deepEqual(r.problems, []);
    return (await renderContainer(store, r.specs[0] as ContainerSpec, { cgroupsPath: null })).bundleDir;
  }

  test('prepareRootfs refuses with E_OVERLAY_UPPER_UNSUPPORTED before mounting; nothing is mounted', async () => {
    const bundle = await writableBundle(path.join(merged, 'keel'), 'on-overlay');
    await rejectsWith(prepareRootfs(bundle), 'E_OVERLAY_UPPER_UNSUPPORTED');
    assert.equal(await isMountPoint(path.join(bundle, 'rootfs')), false);
    // without the check (the type reported as ext4), mount(8) fails with words that name no cause
    await assert.rejects(prepareRootfs(bundle, { filesystemType: async () => EXT4 }), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'E_PERMISSION');
      assert.match((e as Error).message, /wrong fs type, bad option, bad superblock/);
      return true;
    });
    assert.equal(await isMountPoint(path.join(bundle, 'rootfs')), false);
  });

  test('the same bundle on the disk under it (ext4) mounts: the refusal is about the filesystem only', async () => {
    const bundle = await writableBundle(path.join(base, 'disk-store'), 'on-disk');
    const r = await prepareRootfs(bundle);
    assert.equal(r.mounted, true);
    assert.equal(await releaseRootfs(bundle), true);
  });
});
