// renderBundle: the shared hard-link tree, deterministic and idempotent rendering ("unchanged"),
// slots and the atomic pointer flip, mount points pre-created so runc never writes the tree, the
// store's layer dirs untouched, and the in-use listing that keeps prune from removing layers.

import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readlink, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { isKeelError } from '../../../src/errors.ts';
import {
  activeBundle, collectInUse, pruneUnusedRootfs, readBundleRecord, removeContainerBundles, renderBundle, setActiveSlot, sharedRootfsDir,
  type RenderImage,
} from '../../../src/bundle/index.ts';
import { fingerprintTree } from '../../../src/store/index.ts';
import { DIFF_A, DIFF_B, IMAGE, MANIFEST, specOf, tempDir } from './helpers.ts';

async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const p = `${d}/${name}`;
      const st = await lstat(p);
      let content = '';
      if (st.isFile()) content = (await readFile(p)).toString('base64');
      else if (st.isSymbolicLink()) content = await readlink(p);
      out.set(p, `${st.mode}:${st.ino}:${st.mtimeMs}:${content}`);
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out;
}

describe('renderBundle', () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let root: string;
  let image: RenderImage;
  let data: string;
  const opts = { cgroupsPath: null, hostFileExists: async () => true } as const;
  const yaml = (extra = ''): string => `name: demo\nimage: r.example/demo:1\nmounts:\n  - { type: bind, source: DATA, target: /var/lib/demo, readOnly: false }\n  - { type: tmpfs, target: /tmp }\n${extra}`;
  let spec = (extra = ''): ReturnType<typeof specOf> => specOf(yaml(extra).replace('DATA', data));

  before(async () => {
    tmp = await tempDir('keel-bundle-render-');
    root = `${tmp.path}/keel`;
    data = `${tmp.path}/data`;
    await mkdir(root, { mode: 0o700 });
    await mkdir(data);
    const a = `${tmp.path}/layers/a`;
    const b = `${tmp.path}/layers/b`;
    await mkdir(`${a}/bin`, { recursive: true });
    await mkdir(`${a}/etc`, { recursive: true });
    await mkdir(`${b}/bin`, { recursive: true });
    await mkdir(`${b}/etc`, { recursive: true });
    await writeFile(`${a}/bin/server`, '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(`${a}/etc/motd`, 'hello\n');
    await writeFile(`${a}/etc/passwd`, 'root:x:0:0::/root:/bin/sh\ndaemon:x:1:1::/usr/sbin:/bin/false\n');
    await writeFile(`${a}/etc/group`, 'root:x:0:\ndaemon:x:1:\n');
    await writeFile(`${b}/bin/extra`, 'extra\n');
    await writeFile(`${b}/etc/.wh.motd`, '');
    image = { name: 'r.example/demo:1', digest: MANIFEST, config: IMAGE, layers: [{ dir: a }, { dir: b }] };
    spec = (extra = '') => specOf(yaml(extra).replace('DATA', data));
  });
  after(async () => tmp.cleanup());

  it('first render: slot a, active -> a, the shared tree links the layers\' files', async () => {
    const before = await Promise.all(image.layers.map((l) => fingerprintTree(l.dir)));
    const r = await renderBundle(root, spec(), image, opts);
    assert.equal(r.slot, 'a');
    assert.equal(r.changed, true);
    assert.equal(r.imageDigest, MANIFEST);
    assert.equal(r.bundleDir, `${root}/containers/demo/a`);
    assert.equal(await readlink(`${root}/containers/demo/active`), 'a');
    assert.equal(await activeBundle(root, 'demo'), r.bundleDir);
    const tree = sharedRootfsDir(root, MANIFEST);
    assert.equal((await stat(`${tree}/bin/server`)).ino, (await stat(`${image.layers[0]?.dir}/bin/server`)).ino, 'hard link, not a copy');
    await assert.rejects(lstat(`${tree}/etc/motd`), { code: 'ENOENT' }, 'whiteout applied');
    await assert.rejects(lstat(`${tree}/etc/.wh.motd`), { code: 'ENOENT' }, 'marker not in the tree');
    const config = JSON.parse(await readFile(`${r.bundleDir}/config.json`, 'utf8')) as { root: { path: string; readonly: boolean }; process: { user: { uid: number } } };
    assert.deepEqual(config.root, { path: tree, readonly: true });
    assert.equal(config.process.user.uid, 1, 'image User daemon resolved in the image passwd');
    // Every mount point runc would otherwise create exists already (runc must not write the tree).
    for (const d of ['/proc', '/sys', '/dev', '/var/lib/demo', '/tmp', '/data']) assert.ok((await stat(`${tree}${d}`)).isDirectory(), d);
    for (const f of ['/etc/hosts', '/etc/resolv.conf']) assert.ok((await stat(`${tree}${f}`)).isFile(), f);
    assert.deepEqual(await Promise.all(image.layers.map((l) => fingerprintTree(l.dir))), before, 'layer dirs unchanged');
    const record = await readBundleRecord(r.bundleDir);
    assert.equal(record?.inputsDigest, r.inputsDigest);
    assert.deepEqual(record?.image.diffIds, [DIFF_A, DIFF_B]);
  });

  it('rendering the same inputs again changes nothing, byte for byte and time for time', async () => {
    const beforeSnap = await snapshot(root);
    const r = await renderBundle(root, spec(), image, opts);
    assert.equal(r.changed, false);
    assert.equal(r.slot, 'a');
    assert.deepEqual(await snapshot(root), beforeSnap);
  });

  it('a changed spec renders the inactive slot and flips the pointer; the old slot stays for rollback', async () => {
    const first = await readFile(`${root}/containers/demo/a/config.json`);
    const r = await renderBundle(root, spec('env: { A: "1" }\n'), image, opts);
    assert.equal(r.changed, true);
    assert.equal(r.slot, 'b');
    assert.equal(await readlink(`${root}/containers/demo/active`), 'b');
    assert.match(await readFile(`${r.bundleDir}/config.json`, 'utf8'), /"A=1"/);
    assert.deepEqual(await readFile(`${root}/containers/demo/a/config.json`), first, 'slot a untouched');
    await setActiveSlot(root, 'demo', 'a');
    assert.equal(await activeBundle(root, 'demo'), `${root}/containers/demo/a`);
    // Back on a, the first spec is unchanged again; the second spec goes to b.
    assert.equal((await renderBundle(root, spec(), image, opts)).changed, false);
    const again = await renderBundle(root, spec('env: { A: "1" }\n'), image, opts);
    assert.deepEqual([again.slot, again.changed], ['b', true]);
  });

  it('is deterministic: a fresh render of the same inputs gives the same bytes', async () => {
    const a = await readFile(`${root}/containers/demo/b/config.json`);
    const rec = await readFile(`${root}/containers/demo/b/keel-bundle.json`);
    await removeContainerBundles(root, 'demo');
    assert.equal(await activeBundle(root, 'demo'), undefined);
    const r = await renderBundle(root, spec('env: { A: "1" }\n'), image, opts);
    assert.equal(r.slot, 'a');
    assert.deepEqual(await readFile(`${r.bundleDir}/config.json`), a);
    assert.equal((await readFile(`${r.bundleDir}/keel-bundle.json`, 'utf8')), rec.toString('utf8'));
  });

  it('a missing mount source without create is refused before anything is written', async () => {
    const bad = specOf(`name: other\nimage: r.example/demo:1\nmounts:\n  - { type: bind, source: ${tmp.path}/nope, target: /x }\n`);
    await assert.rejects(renderBundle(root, bad, image, opts), (e: unknown) => isKeelError(e, 'E_MOUNT_SOURCE'));
    await assert.rejects(lstat(`${root}/containers/other`), { code: 'ENOENT' });
  });

  it('a writable rootfs gets an overlay slot: root.path rootfs, upper/ and work/ in the slot', async () => {
    const r = await renderBundle(root, specOf('name: rw\nimage: r.example/demo:1\nreadOnlyRootfs: false\n'), image, opts);
    const config = JSON.parse(await readFile(`${r.bundleDir}/config.json`, 'utf8')) as { root: { path: string; readonly: boolean } };
    assert.deepEqual(config.root, { path: 'rootfs', readonly: false });
    for (const d of ['rootfs', 'upper', 'work']) assert.ok((await stat(`${r.bundleDir}/${d}`)).isDirectory());
    assert.equal((await readBundleRecord(r.bundleDir))?.writable, true);
  });

  it('lists what containers use, and prunes only shared trees nobody uses', async () => {
    const used = await collectInUse(root);
    assert.deepEqual([...used.containers], ['demo', 'rw']);
    assert.deepEqual([...used.diffIds].sort(), [DIFF_A, DIFF_B]);
    assert.deepEqual([...used.manifests], [MANIFEST]);
    assert.deepEqual(await pruneUnusedRootfs(root), []);
    await removeContainerBundles(root, 'demo');
    await removeContainerBundles(root, 'rw');
    await removeContainerBundles(root, 'rw'); // idempotent
    assert.equal((await collectInUse(root)).diffIds.size, 0);
    assert.deepEqual(await pruneUnusedRootfs(root), [MANIFEST]);
    await assert.rejects(lstat(sharedRootfsDir(root, MANIFEST)), { code: 'ENOENT' });
    assert.ok((await stat(`${image.layers[0]?.dir}/bin/server`)).isFile(), 'the layer survives the tree');
    await rm(`${root}/containers`, { recursive: true, force: true });
  });
});
