// The store as a user meets it after something went wrong (issue 9): a FIFO or
// a link to /dev/zero planted under blobs/, a `keel check` killed or
// interrupted, a broken image among good ones, a layer changed after
// extraction. Every case runs the real CLI on a real store under /var/tmp,
// with images pulled from an OCI layout written by hand (no registry needed).

import assert from 'node:assert/strict';
import { execFile as execFileCb, spawn } from 'node:child_process';
import { readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { writeOciLayout, type TarEntry, type WrittenImage } from '../../helpers/oci-layout.ts';
import { readFileSync } from 'node:fs';
import { KEEL_BIN, PROJECT_NODE, runKeel, tempDir, type TempDir } from '../../helpers/run.ts';
import { digestOf } from '../../../src/oci/digest.ts';

const execFile = promisify(execFileCb);

const ONE_LAYERS: TarEntry[][] = [[{ name: 'etc/', type: 'directory' }, { name: 'etc/one', content: 'one\n' }], [{ name: 'two', content: 'two\n' }]];

let work: TempDir;
let layout: string;
let images: WrittenImage[];

before(async () => {
  work = await tempDir('keel-store-repair-');
  layout = join(work.path, 'layout');
  images = await writeOciLayout(layout, [
    { name: 'example.com/one:1', layers: ONE_LAYERS },
    { name: 'example.com/other:1', layers: [[{ name: 'other', content: 'other\n' }]] },
  ]);
});
after(() => work?.cleanup());

/** A fresh store holding every image of the layout. */
async function pulledStore(label: string): Promise<string> {
  const store = join(work.path, label);
  for (const image of images) {
    const r = await runKeel(['--root', store, 'pull', '--quiet', `oci:${layout}:${image.name}`]);
    assert.equal(r.code, 0, r.stderr);
  }
  return store;
}

/** Starts keel as runKeel would (bin/keel is a shell launcher that execs node), to signal it mid-run. */
function startKeel(args: string[], stdio: 'pipe' | 'ignore') {
  const isShell = /^#!.*\b(sh|bash|dash)\b/.test(readFileSync(KEEL_BIN, 'utf8').split('\n')[0] ?? '');
  return isShell ? spawn(KEEL_BIN, args, { stdio: ['ignore', stdio, stdio] }) : spawn(PROJECT_NODE, [KEEL_BIN, ...args], { stdio: ['ignore', stdio, stdio] });
}

const FAKE_BLOB = 'f'.repeat(64);

describe('keel check on hostile store content', () => {
  test('a FIFO named like a blob is reported, not waited on', async () => {
    const store = await pulledStore('fifo');
    const fifo = join(store, 'blobs', 'sha256', FAKE_BLOB);
    await execFile('mkfifo', [fifo]);
    const r = await runKeel(['--root', store, 'check'], { timeoutMs: 30_000 });
    assert.equal(r.timedOut, false, 'keel check hung on the FIFO');
    assert.equal(r.code, 65, r.stderr);
    assert.match(r.stdout, new RegExp(`blob-stray: ${fifo}: .*is a FIFO, not a regular file`));
  });

  test('a symlink to /dev/zero named like a blob is reported, not read', async () => {
    const store = await pulledStore('devzero');
    const link = join(store, 'blobs', 'sha256', FAKE_BLOB);
    await symlink('/dev/zero', link);
    const r = await runKeel(['--root', store, 'check'], { timeoutMs: 30_000 });
    assert.equal(r.timedOut, false, 'keel check read /dev/zero through the link');
    assert.equal(r.code, 65, r.stderr);
    assert.match(r.stdout, new RegExp(`blob-stray: ${link}: .*is a symbolic link`));
    // readers other than check refuse it too, and every image still lists
    const listed = await runKeel(['--root', store, 'images'], { timeoutMs: 30_000 });
    assert.equal(listed.code, 0, listed.stderr);
  });

  test('SIGTERM stops a long check promptly (E_INTERRUPTED), leaving no lock behind', async () => {
    const store = await pulledStore('sigterm');
    // a 16 GiB sparse "blob": hashing it takes far longer than the test allows
    const big = join(store, 'blobs', 'sha256', FAKE_BLOB);
    await execFile('truncate', ['-s', '16G', big]);
    const child = startKeel(['--root', store, 'check'], 'pipe');
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const shared = join(store, 'locks', 'shared');
    for (let i = 0; i < 200 && (await readdir(shared)).length === 0; i++) await sleep(50);
    assert.equal((await readdir(shared)).length, 1, 'check took its shared lock');
    await sleep(300);
    const t0 = Date.now();
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await closed;
    clearTimeout(killer);
    assert.ok(Date.now() - t0 < 5000, `check took ${Date.now() - t0} ms to stop after SIGTERM`);
    assert.equal(code, 75, stderr);
    assert.match(stderr, /E_INTERRUPTED/);
    assert.deepEqual(await readdir(shared), []);
    await rm(big);
  });

  test("a killed check's shared-lock registration is reclaimed by the next run", async () => {
    const store = await pulledStore('killed');
    const big = join(store, 'blobs', 'sha256', FAKE_BLOB);
    await execFile('truncate', ['-s', '16G', big]);
    const child = startKeel(['--root', store, 'check'], 'ignore');
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
    const shared = join(store, 'locks', 'shared');
    for (let i = 0; i < 200 && (await readdir(shared)).length === 0; i++) await sleep(50);
    const left = await readdir(shared);
    assert.equal(left.length, 1, 'check took its shared lock');
    child.kill('SIGKILL');
    await closed;
    assert.deepEqual(await readdir(shared), left, 'kill -9 leaves the registration');
    await rm(big);
    const again = await runKeel(['--root', store, 'check'], { timeoutMs: 60_000 });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.deepEqual(await readdir(shared), [], 'the dead registration was removed');
  });
});

describe('keel images with one broken image', () => {
  test('a missing config blob breaks only its image: the others are listed, the broken one is named, the status says so', async () => {
    const store = await pulledStore('images-config');
    const [one, other] = images as [WrittenImage, WrittenImage];
    await rm(join(store, 'blobs', 'sha256', one.config.slice(7)));
    const r = await runKeel(['--root', store, 'images']);
    assert.equal(r.code, 65, r.stderr);
    assert.match(r.stdout, /^example\.com\/one:1 +\S+ +\S+ +- +-$/m);
    assert.match(r.stdout, /^example\.com\/other:1 +\S+ +linux\/amd64 +1 +/m);
    assert.match(r.stderr, new RegExp(`image example\\.com/one:1 is broken: blob ${one.config} is not in the store \\[E_STORE_CORRUPT\\]`));
    assert.match(r.stderr, /hint: .*keel pull example\.com\/one:1/);
    assert.doesNotMatch(r.stderr, /other/);

    const json = await runKeel(['--root', store, 'images', '--json']);
    assert.equal(json.code, 65, json.stderr);
    const list = JSON.parse(json.stdout) as Array<{ name: string; digest: string; layers: number; problem?: { code: string; message: string } }>;
    assert.deepEqual(list.map((i) => [i.name, i.problem?.code]), [['example.com/one:1', 'E_STORE_CORRUPT'], ['example.com/other:1', undefined]]);
    assert.equal(list[1]?.digest, other.manifest);
    assert.equal(list[1]?.layers, 1);
  });

  test('a missing layer blob is named too', async () => {
    const store = await pulledStore('images-layer');
    const [one] = images as [WrittenImage];
    await rm(join(store, 'blobs', 'sha256', (one.layers[1] as string).slice(7)));
    const r = await runKeel(['--root', store, 'images']);
    assert.equal(r.code, 65, r.stderr);
    assert.match(r.stdout, /^example\.com\/one:1 +\S+ +linux\/amd64 +2 +/m);
    assert.match(r.stdout, /^example\.com\/other:1 /m);
    assert.match(r.stderr, new RegExp(`image example\\.com/one:1 is broken: layer blob ${one.layers[1]} is not in the store`));
  });
});

describe('a layer changed after extraction', () => {
  async function tamperedStore(label: string): Promise<{ store: string; layerDir: string }> {
    const store = await pulledStore(label);
    const [one] = images as [WrittenImage];
    const layerDir = join(store, 'layers', 'sha256', (one.diffIds[1] as string).slice(7));
    await writeFile(join(layerDir, 'two'), 'tampered\n');
    return { store, layerDir };
  }

  test('check sets it aside, unpack refuses it naming the repair, and pull re-extracts it', async () => {
    const { store, layerDir } = await tamperedStore('tampered');
    const checked = await runKeel(['--root', store, 'check']);
    assert.equal(checked.code, 65, checked.stderr);
    assert.match(checked.stdout, new RegExp(`layer-corrupt: ${layerDir}: .*set aside`));
    // the tree is gone, its record became the damaged mark: nothing new is built from it
    const names = await readdir(join(store, 'layers', 'sha256'));
    const hex = layerDir.split('/').pop() as string;
    assert.ok(!names.includes(hex) && !names.includes(`${hex}.json`) && names.includes(`${hex}.damaged`), names.join(' '));

    const refused = await runKeel(['--root', store, 'unpack', 'example.com/one:1', join(work.path, 'refused')]);
    assert.equal(refused.code, 65, refused.stderr);
    assert.match(refused.stderr, /was found changed since extraction \(keel check\) and set aside \[E_STORE_CORRUPT\]/);
    assert.match(refused.stderr, /hint: run keel pull example\.com\/one:1/);
    const listed = await runKeel(['--root', store, 'images']);
    assert.equal(listed.code, 65);
    assert.match(listed.stderr, /example\.com\/one:1 is broken: layer .* set aside/);

    const pulled = await runKeel(['--root', store, 'pull', `oci:${layout}:example.com/one:1`]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.doesNotMatch(pulled.stderr, /2 cached/, 'the set-aside layer is not counted as cached');
    const bundle = join(work.path, 'repaired');
    const unpacked = await runKeel(['--root', store, 'unpack', 'example.com/one:1', bundle]);
    assert.equal(unpacked.code, 0, unpacked.stderr);
    assert.equal(await readFile(join(bundle, 'rootfs', 'two'), 'utf8'), 'two\n');
    const again = await runKeel(['--root', store, 'check']);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.ok(!(await readdir(join(store, 'layers', 'sha256'))).includes(`${hex}.damaged`), 'the mark is gone once re-extracted');
  });

  test('rmi + prune + pull repairs it too, even when another name keeps the layer', async () => {
    const { store } = await tamperedStore('tampered-rmi');
    // the same image under a second name: prune keeps its layers
    const again = join(work.path, 'layout-again');
    await writeOciLayout(again, [{ name: 'example.com/one-again:1', layers: ONE_LAYERS }]);
    assert.equal((await runKeel(['--root', store, 'pull', '-q', `oci:${again}:example.com/one-again:1`])).code, 0);
    assert.equal((await runKeel(['--root', store, 'check'])).code, 65);
    for (const args of [['rmi', 'example.com/one:1'], ['prune'], ['pull', '-q', `oci:${layout}:example.com/one:1`]]) {
      const r = await runKeel(['--root', store, ...args]);
      assert.equal(r.code, 0, `${args[0]}: ${r.stderr}`);
    }
    const checked = await runKeel(['--root', store, 'check']);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    const bundle = join(work.path, 'repaired-rmi');
    assert.equal((await runKeel(['--root', store, 'unpack', 'example.com/one-again:1', `${bundle}-again`])).code, 0);
    assert.equal(await readFile(join(`${bundle}-again`, 'rootfs', 'two'), 'utf8'), 'two\n');
    assert.equal((await runKeel(['--root', store, 'unpack', 'example.com/one:1', bundle])).code, 0);
    assert.equal(await readFile(join(bundle, 'rootfs', 'two'), 'utf8'), 'two\n');
  });
});

describe('what extraction skips reaches stderr of keel pull', () => {
  test('device nodes and ignored extended attributes: one warning per layer with counts and an example path, not again when cached', async () => {
    const dir = join(work.path, 'layout-devices');
    const [image] = await writeOciLayout(dir, [
      {
        name: 'example.com/devices:1',
        layers: [
          [
            { name: 'dev/', type: 'directory' },
            { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 },
            { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 },
            { name: 'usr/bin/ping', content: '#!/bin/sh\n', mode: 0o755, pax: { 'SCHILY.xattr.user.note': 'x', 'SCHILY.xattr.security.selinux': 'system_u:object_r:ping_exec_t:s0' } },
          ],
          [{ name: 'plain', content: 'nothing to skip\n' }],
        ],
      },
    ]);
    const store = join(work.path, 'store-devices');
    for (const quiet of [[], ['-q']]) {
      const root = `${store}${quiet.length}`;
      const r = await runKeel(['--root', root, 'pull', ...quiet, `oci:${dir}:example.com/devices:1`]);
      assert.equal(r.code, 0, r.stderr);
      const warnings = r.stderr.split('\n').filter((l) => l.startsWith('keel: warning:'));
      assert.deepEqual(warnings, [
        `keel: warning: example.com/devices:1: layer ${image?.layers[0]}: skipped 2 device nodes (the runtime provides /dev), e.g. /dev/null; ` +
          'ignored 1 extended attribute as umoci does, e.g. /usr/bin/ping security.selinux: host-specific (umoci ignores it too)',
      ]);
      const again = await runKeel(['--root', root, 'pull', ...quiet, `oci:${dir}:example.com/devices:1`]);
      assert.equal(again.code, 0, again.stderr);
      assert.doesNotMatch(again.stderr, /warning/, 'a cached layer is not reported again');
    }
  });
});

describe('a blob that no longer hashes to its name', () => {
  test('check removes it at once, images names the broken image, pull fetches it again, check is clean', async () => {
    const store = await pulledStore('bad-blob');
    const [one] = images as [WrittenImage];
    const blob = join(store, 'blobs', 'sha256', (one.layers[1] as string).slice(7));
    const bytes = await readFile(blob);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    await writeFile(blob, bytes);

    const checked = await runKeel(['--root', store, 'check']);
    assert.equal(checked.code, 65, checked.stderr);
    assert.match(checked.stdout, /blob-corrupt: .* hashes to sha256:[0-9a-f]{64}; removed: keel pull of an image that uses it fetches it again/);
    await assert.rejects(readFile(blob), 'the damaged blob is gone');
    const listed = await runKeel(['--root', store, 'images']);
    assert.equal(listed.code, 65);
    assert.match(listed.stderr, /example\.com\/one:1 is broken/);
    assert.match(listed.stdout, /example\.com\/other:1/, 'the other image is listed');

    const pulled = await runKeel(['--root', store, 'pull', `oci:${layout}:example.com/one:1`]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(digestOf(await readFile(blob)), one.layers[1], 'fetched again, whole');
    const again = await runKeel(['--root', store, 'check']);
    assert.equal(again.code, 0, again.stdout + again.stderr);
  });
});
