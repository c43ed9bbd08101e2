// Hardlinks to a lower layer's file: extraction records them (the layer's own
// tree does not depend on its parents) and stackLayers makes them after the
// layer's entries, in tar order, to the rootfs's inode, in both modes; hostile
// targets stay refused (docs/layers.md: Hardlinks and layers).

import assert from 'node:assert/strict';
import { lstat, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { stackLayers, type StackLayer } from '../../../src/layer/index.ts';
import { MAX_LINK_ANCESTORS } from '../../../src/layer/extract.ts';
import { END, extractTar, packTar, rawHeader, rejectsWith, type PackEntry, useSandbox } from './helpers.ts';

const sb = useSandbox();
const MODES = ['copy', 'hardlink'] as const;

async function layers(...specs: PackEntry[][]): Promise<StackLayer[]> {
  const out: StackLayer[] = [];
  for (const spec of specs) {
    const dir = await sb.newDir('layer');
    const stats = await extractTar(await packTar(spec), dir);
    out.push({ dir, implicitDirs: stats.implicitDirs, externalLinks: stats.externalLinks });
  }
  return out;
}

async function rootfs(name: string): Promise<string> {
  return path.join(await sb.newDir(name), 'rootfs');
}

const BASE: PackEntry[] = [
  { name: 'usr/', type: 'directory' },
  { name: 'usr/bin/', type: 'directory' },
  { name: 'usr/bin/perl', data: 'perl 5', mode: 0o755, uid: 7 },
  { name: 'etc/', type: 'directory' },
  { name: 'etc/alt', data: 'old alt' },
];

describe('extractLayer: hardlinks to a lower layer', () => {
  test('a link whose target is not in the layer is recorded in tar order, not created', async () => {
    const dir = await sb.newDir('ext-record');
    const stats = await extractTar(
      await packTar([
        { name: 'usr/bin/', type: 'directory' },
        { name: 'usr/bin/perl5.36', type: 'link', linkname: 'usr/bin/perl' },
        { name: 'etc/alt', data: 'replaced by the link below' },
        { name: '/etc/alt', type: 'link', linkname: '/usr/bin/./perl' },
        { name: 'local', data: 'own' },
        { name: 'local2', type: 'link', linkname: 'local' },
      ]),
      dir,
    );
    assert.deepEqual(stats.externalLinks, [
      { path: 'usr/bin/perl5.36', target: 'usr/bin/perl' },
      { path: 'etc/alt', target: 'usr/bin/perl' },
    ]);
    assert.deepEqual((await readdir(path.join(dir, 'usr/bin'))).sort(), []);
    assert.deepEqual((await readdir(path.join(dir, 'etc'))).sort(), [], 'what the layer had at the link path is replaced');
    assert.equal((await lstat(path.join(dir, 'local2'))).ino, (await lstat(path.join(dir, 'local'))).ino, 'a link inside the layer is made as before');
  });

  test('a later entry at an external link path drops the record', async () => {
    const stats = await extractTar(
      await packTar([
        { name: 'a', type: 'link', linkname: 'lower' },
        { name: 'a', data: 'file now' },
        { name: 'd/l', type: 'link', linkname: 'lower' },
        { name: 'd', data: 'd is a file now' },
        { name: 'e/l', type: 'link', linkname: 'lower' },
        { name: 'e/', type: 'directory' },
      ]),
      await sb.newDir('ext-superseded'),
    );
    assert.deepEqual(stats.externalLinks, [{ path: 'e/l', target: 'lower' }]);
  });

  test('a link whose target the same layer changes afterwards is early: replaced, whited out, under an opaque or a whited-out directory', async () => {
    const stats = await extractTar(
      await packTar([
        { name: 'l1', type: 'link', linkname: 'f' },
        { name: 'l2', type: 'link', linkname: 'a/x' },
        { name: 'l3', type: 'link', linkname: 'b/x' },
        { name: 'l4', type: 'link', linkname: 'c/d/x' },
        { name: 'l5', type: 'link', linkname: 'e/x' },
        { name: 'f', data: 'new' },
        { name: 'a/.wh.x', data: '' },
        { name: 'b/.wh..wh..opq', data: '' },
        { name: '.wh.c', data: '' },
        { name: 'e/.wh.y', data: '' }, // another name in e: l5 stays late
        { name: 'g/.wh.x', data: '' }, // before its link: the link stays late (and finds nothing when stacking)
        { name: 'l6', type: 'link', linkname: 'g/x' },
      ]),
      await sb.newDir('ext-early'),
    );
    assert.deepEqual(stats.externalLinks, [
      { path: 'l1', target: 'f', early: true },
      { path: 'l2', target: 'a/x', early: true },
      { path: 'l3', target: 'b/x', early: true },
      { path: 'l4', target: 'c/d/x', early: true },
      { path: 'l5', target: 'e/x' },
      { path: 'l6', target: 'g/x' },
    ]);
  });

  test('a link to a recorded link names the lower file that one names, and is early when that one already is', async () => {
    const stats = await extractTar(
      await packTar([
        { name: 'x', type: 'link', linkname: 'f' },
        { name: 'y', type: 'link', linkname: 'x' },
        { name: 'x', data: 'new x' }, // replaces x: its record goes, y keeps linking f
        { name: 'p', type: 'link', linkname: 'g' },
        { name: 'g', data: 'new g' }, // p is early now
        { name: 'q', type: 'link', linkname: 'p' }, // q shares p's inode, the lower g: early too
      ]),
      await sb.newDir('ext-chain'),
    );
    assert.deepEqual(stats.externalLinks, [
      { path: 'y', target: 'f' },
      { path: 'p', target: 'g', early: true },
      { path: 'q', target: 'g', early: true },
    ]);
  });

  test('the bookkeeping of early links is bounded: targets whose components add up past MAX_LINK_ANCESTORS are E_LAYER_LIMIT', async () => {
    const deep = Array.from({ length: 120 }, (_, i) => `d${i}`).join('/');
    const links: PackEntry[] = Array.from({ length: Math.ceil(MAX_LINK_ANCESTORS / 121) + 1 }, (_, i) => ({ name: `l${i}`, type: 'link', linkname: `${deep}/f${i}` }));
    await rejectsWith(extractTar(await packTar(links), await sb.newDir('ext-limit')), 'E_LAYER_LIMIT');
  });

  test('hostile targets stay refused: above the root, the link itself, a device, a marker, a symlink, a directory', async () => {
    const cases: Buffer[] = [
      await packTar([{ name: 'l', type: 'link', linkname: '../outside/tripwire' }]),
      await packTar([{ name: 'l', type: 'link', linkname: `${'../'.repeat(20)}etc/shadow` }]),
      await packTar([{ name: 'l', type: 'link', linkname: 'l' }]),
      await packTar([{ name: 'l', type: 'link', linkname: '.wh.x' }]),
      await packTar([{ name: 's', type: 'symlink', linkname: '/etc/shadow' }, { name: 'l', type: 'link', linkname: 's' }]),
      await packTar([{ name: 'd/', type: 'directory' }, { name: 'l', type: 'link', linkname: 'd' }]),
      Buffer.concat([rawHeader({ name: 'dev/mem', typeflag: '3' }), rawHeader({ name: 'l', typeflag: '1', linkname: 'dev/mem' }), END]),
    ];
    for (const tar of cases) await rejectsWith(extractTar(tar, await sb.newDir('ext-hostile')), 'E_LAYER_LINK');
  });
});

describe('stackLayers: hardlinks to a lower layer', () => {
  for (const mode of MODES) {
    test(`${mode}: applied after the layer's entries, in order, replacing what is there, sharing the rootfs's inode`, async () => {
      const ls = await layers(BASE, [
        { name: 'usr/bin/perl5.36', type: 'link', linkname: 'usr/bin/perl' },
        { name: 'etc/alt', type: 'link', linkname: 'usr/bin/perl' },
        { name: 'etc/alt2', type: 'link', linkname: 'usr/bin/perl5.36' }, // a link to an external link: order matters
        { name: 'new/dir/own', data: 'own' },
      ]);
      const root = await rootfs(`stack-ok-${mode}`);
      await stackLayers(ls, root, { mode });
      const perl = await lstat(path.join(root, 'usr/bin/perl'));
      for (const p of ['usr/bin/perl5.36', 'etc/alt', 'etc/alt2']) {
        const st = await lstat(path.join(root, p));
        assert.ok(st.isFile(), p);
        assert.equal(st.ino, perl.ino, `${p} shares the inode of usr/bin/perl`);
        assert.equal(st.mode & 0o7777, 0o755);
        assert.equal(st.uid, 7);
      }
      assert.equal(await readFile(path.join(root, 'etc/alt'), 'utf8'), 'perl 5');
      assert.equal(perl.nlink, mode === 'copy' ? 4 : 5, 'the rootfs file and its 3 links (hardlink mode: and the stored layer file)');
      assert.equal(await readFile(path.join(root, 'new/dir/own'), 'utf8'), 'own');
      if (mode === 'copy') {
        assert.notEqual(perl.ino, (await stat(path.join(ls[0]?.dir ?? '', 'usr/bin/perl'))).ino, 'copy mode never shares the store');
      }
    });

    test(`${mode}: a link over a directory of the lower layer replaces it`, async () => {
      const ls = await layers([...BASE, { name: 'var/', type: 'directory' }, { name: 'var/x/y', data: 'y' }], [{ name: 'var/x', type: 'link', linkname: 'etc/alt' }]);
      const root = await rootfs(`stack-replace-dir-${mode}`);
      await stackLayers(ls, root, { mode });
      assert.equal((await lstat(path.join(root, 'var/x'))).ino, (await lstat(path.join(root, 'etc/alt'))).ino);
    });

    test(`${mode}: a missing target is refused`, async () => {
      const ls = await layers(BASE, [{ name: 'l', type: 'link', linkname: 'usr/bin/python' }]);
      await rejectsWith(stackLayers(ls, await rootfs(`stack-missing-${mode}`), { mode }), 'E_LAYER_LINK');
    });

    test(`${mode}: a target that is not a regular file is refused (directory, symlink, FIFO)`, async () => {
      for (const lower of [
        [{ name: 't/', type: 'directory' }],
        [{ name: 't', type: 'symlink', linkname: '/etc/shadow' }],
        [{ name: 't', type: 'fifo' }],
      ] as PackEntry[][]) {
        const ls = await layers(lower, [{ name: 'l', type: 'link', linkname: 't' }]);
        await rejectsWith(stackLayers(ls, await rootfs(`stack-nonfile-${mode}`), { mode }), 'E_LAYER_LINK');
      }
    });

    test(`${mode}: a link made before its layer changes its target links the lower file, as umoci unpacks it`, async () => {
      const lower: PackEntry[] = [{ name: 'a/', type: 'directory' }, { name: 'a/x', data: 'lower x' }];
      const cases: Array<[string, PackEntry[], Record<string, string | null>]> = [
        ['whited out', [{ name: 'a/y', type: 'link', linkname: 'a/x' }, { name: 'a/.wh.x', data: '' }], { 'a/y': 'lower x', 'a/x': null }],
        ['opaque, link outside', [{ name: 'b', type: 'link', linkname: 'a/x' }, { name: 'a/.wh..wh..opq', data: '' }], { b: 'lower x', 'a/x': null }],
        ['opaque, link inside: the layer keeps what it made', [{ name: 'a/y', type: 'link', linkname: 'a/x' }, { name: 'a/.wh..wh..opq', data: '' }], { 'a/y': 'lower x', 'a/x': null }],
        ['replaced', [{ name: 'a/y', type: 'link', linkname: 'a/x' }, { name: 'a/x', data: 'upper x' }], { 'a/y': 'lower x', 'a/x': 'upper x' }],
        ['a new directory for the link', [{ name: 'n/', type: 'directory', mode: 0o700 }, { name: 'n/y', type: 'link', linkname: 'a/x' }, { name: 'a/.wh.x', data: '' }], { 'n/y': 'lower x', 'a/x': null }],
      ];
      for (const [what, upper, expected] of cases) {
        const root = await rootfs(`stack-early-${mode}`);
        await stackLayers(await layers(lower, upper), root, { mode });
        for (const [p, content] of Object.entries(expected)) {
          assert.equal(await readFile(path.join(root, p), 'utf8').catch(() => null), content, `${what}: ${p}`);
        }
      }
      const root = await rootfs(`stack-early-dir-${mode}`);
      await stackLayers(await layers(lower, [{ name: 'n/', type: 'directory', mode: 0o700 }, { name: 'n/y', type: 'link', linkname: 'a/x' }, { name: 'a/.wh.x', data: '' }]), root, { mode });
      assert.equal((await stat(path.join(root, 'n'))).mode & 0o7777, 0o700, 'the layer\'s directory entry still applies to a directory its early link needed');
    });

    test(`${mode}: a chain of links made before the layer replaces their target: both are the lower file`, async () => {
      const root = await rootfs(`stack-chain-${mode}`);
      await stackLayers(await layers([{ name: 'f', data: 'lower f' }], [{ name: 'x', type: 'link', linkname: 'f' }, { name: 'y', type: 'link', linkname: 'x' }, { name: 'x', data: 'new x' }]), root, { mode });
      assert.equal(await readFile(path.join(root, 'x'), 'utf8'), 'new x');
      assert.equal(await readFile(path.join(root, 'y'), 'utf8'), 'lower f');
    });

    test(`${mode}: a link after a whiteout of its target's directory in the same layer is refused`, async () => {
      const ls = await layers(BASE, [{ name: '.wh.usr', data: '' }, { name: 'perl', type: 'link', linkname: 'usr/bin/perl' }]);
      await rejectsWith(stackLayers(ls, await rootfs(`stack-wh-${mode}`), { mode }), 'E_LAYER_LINK');
      const opq = await layers(BASE, [{ name: 'usr/bin/.wh..wh..opq', data: '' }, { name: 'perl', type: 'link', linkname: 'usr/bin/perl' }]);
      await rejectsWith(stackLayers(opq, await rootfs(`stack-opq-${mode}`), { mode }), 'E_LAYER_LINK');
    });

    test(`${mode}: a target through a lower layer's symlink to the host resolves inside the rootfs`, async () => {
      const ls = await layers([{ name: 'sl', type: 'symlink', linkname: sb.outside }], [{ name: 'l', type: 'link', linkname: 'sl/tripwire' }]);
      await rejectsWith(stackLayers(ls, await rootfs(`stack-host-${mode}`), { mode }), 'E_LAYER_LINK');
      assert.equal((await stat(path.join(sb.outside, 'tripwire'))).nlink, 1, 'the host tripwire gained a link');
    });

    test(`${mode}: an unclean recorded path is refused`, async () => {
      const ls = await layers(BASE);
      const bad: StackLayer = { dir: await sb.newDir('empty-layer'), externalLinks: [{ path: 'l', target: '../outside/tripwire' }] };
      await rejectsWith(stackLayers([...ls, bad], await rootfs(`stack-unclean-${mode}`), { mode }), 'E_LAYER_LINK');
    });
  }
});
