// A full or read-only filesystem under the store, met for real: a 1 MiB tmpfs
// mounted under /var/tmp (needs root), a layer bigger than it. keel must name
// the errno's own code (E_DISK_FULL, E_READ_ONLY_FS), never call the layer
// corrupt or hostile (E_LAYER_MALFORMED), and leave no layer committed
// (issues 9 and 10).

import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { DEFAULT_CONFIG } from '../../../src/config/index.ts';
import { CODES } from '../../../src/errors.ts';
import { extractLayer } from '../../../src/layer/index.ts';
import { parseDigest } from '../../../src/oci/digest.ts';
import { pullImage } from '../../../src/ops/pull.ts';
import { Store } from '../../../src/store/index.ts';
import { runKeel } from '../../helpers/run.ts';
import { rejectsWith } from '../../unit/layer/helpers.ts';
import { buildImage, buildTar, layoutEntries, sha256, writeTree } from '../../unit/transport/fixtures.ts';

const execFile = promisify(execFileCb);
const SOURCE = { registry: { config: DEFAULT_CONFIG } };
const T = { timeout: 60_000 };

let base: string;
let layout: string;
let layer: Buffer;
const mounts: string[] = [];

/** A fresh 1 MiB tmpfs under the test's base directory. */
async function smallFilesystem(name: string): Promise<string> {
  const dir = path.join(base, name);
  await mkdir(dir);
  await execFile('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

before(async () => {
  assert.equal(process.geteuid?.(), 0, 'these tests mount a tmpfs: run them as root');
  base = await mkdtemp('/var/tmp/keel-fs-errors-');
  // random bytes: a 3 MiB file cannot fit a 1 MiB filesystem however it is stored
  layer = buildTar([{ name: 'big', data: randomBytes(3 << 20) }]);
  const image = buildImage([layer]);
  layout = path.join(base, 'layout');
  await writeTree(layout, layoutEntries([{ tag: 't', desc: image.manifest }], [image.blobs]));
});

after(async () => {
  for (const m of mounts.reverse()) await execFile('umount', [m]).catch(() => undefined);
  if (base !== undefined) await rm(base, { recursive: true, force: true });
});

describe('a full filesystem', () => {
  test('pulling into a store on a full filesystem fails with E_DISK_FULL, not E_LAYER_MALFORMED; nothing is committed', T, async () => {
    const root = path.join(await smallFilesystem('full-pull'), 'keel');
    const store = await Store.open(root, { create: true });
    await rejectsWith(pullImage(store, `oci:${layout}:t`, { source: SOURCE }), 'E_DISK_FULL', 30_000);
    assert.equal(await store.hasLayer(parseDigest(sha256(layer))), false);
    assert.deepEqual(await readdir(path.join(root, 'tmp')), [], 'staging left behind');
  });

  test('extracting a layer into a full filesystem fails with E_DISK_FULL (the blob itself is elsewhere)', T, async () => {
    const dir = path.join(await smallFilesystem('full-extract'), 'layer');
    await mkdir(dir);
    const blob = path.join(base, 'layer.tar');
    await writeFile(blob, layer);
    await rejectsWith(extractLayer(createReadStream(blob), dir, { compression: 'none', diffId: parseDigest(sha256(layer)) }), 'E_DISK_FULL', 30_000);
  });

  test('keel pull on a full filesystem exits 74 with [E_DISK_FULL] and a hint to free space', T, async () => {
    const root = path.join(await smallFilesystem('full-cli'), 'keel');
    const r = await runKeel(['--root', root, 'pull', `oci:${layout}:t`]);
    assert.equal(r.code, CODES.E_DISK_FULL.exit, r.stderr);
    assert.equal(r.code, 74);
    assert.match(r.stderr, /\[E_DISK_FULL\]/);
    assert.match(r.stderr, /keel: hint: free space on /);
    assert.doesNotMatch(r.stderr, /malformed|corrupt|hostile/);
  });
});

describe('a read-only filesystem', () => {
  test('pulling into a store on a read-only filesystem fails with E_READ_ONLY_FS and exits 73', T, async () => {
    const mnt = await smallFilesystem('readonly');
    const root = path.join(mnt, 'keel');
    await Store.open(root, { create: true });
    await execFile('mount', ['-o', 'remount,ro', mnt]);
    const pulling = (async () => pullImage(await Store.open(root), `oci:${layout}:t`, { source: SOURCE }))();
    await rejectsWith(pulling, 'E_READ_ONLY_FS', 30_000);
    const r = await runKeel(['--root', root, 'pull', `oci:${layout}:t`]);
    assert.equal(r.code, 73, r.stderr);
    assert.match(r.stderr, /\[E_READ_ONLY_FS\]/);
    assert.match(r.stderr, /keel: hint: .*read-only: remount it read-write/);
  });
});
