// extractLayerOffThread: a layer extracted on an extraction thread lands on
// disk exactly as on the calling thread, with the same stats; its errors keep
// their codes across the thread boundary; the caller's signal interrupts it;
// a thread that dies fails its layers with E_INTERNAL and is replaced; its
// phase times reach the caller's clock.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { KeelError } from '../../../src/errors.ts';
import { extractLayer, extractLayerOffThread, type LayerStats } from '../../../src/layer/index.ts';
import { stopExtractThreads } from '../../../src/layer/extract-pool.ts';
import { digestOf, type Digest } from '../../../src/oci/digest.ts';
import { phaseClock } from '../../../src/util/phase-clock.ts';
import { compareTrees } from '../../helpers/tree.ts';
import { makeSandbox, packTar, rejectsWith, type Sandbox } from './helpers.ts';

let sb: Sandbox;
let tar: Buffer;
let gz: Buffer;
before(async () => {
  sb = await makeSandbox();
  tar = await packTar([
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/hostname', data: 'box\n', mode: 0o644, uid: 7, gid: 8 },
    { name: 'bin/', type: 'directory', mode: 0o755 },
    { name: 'bin/tool', data: randomBytes(3 << 20), mode: 0o4755 }, // streamed (over SMALL_FILE)
    { name: 'bin/alias', type: 'link', linkname: 'bin/tool' },
    { name: 'bin/sh', type: 'symlink', linkname: 'tool' },
    { name: 'usr/lib/deep/file', data: 'implicit parents' },
    { name: 'var/.wh.cache', data: '' },
  ]);
  gz = zlib.gzipSync(tar);
});
after(async () => {
  await stopExtractThreads();
  await sb.checkTripwire();
  await sb.cleanup();
});

/** The layer as a stream of uneven chunks, as a registry delivers it. */
function chunked(body: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < body.length; i += 100_003) chunks.push(body.subarray(i, i + 100_003));
  return Readable.from(chunks);
}

/** Stats without the inode keys of fileDigests (two trees have different inodes). */
function comparable(stats: LayerStats): unknown {
  return { ...stats, fileDigests: [...stats.fileDigests.values()].map((d) => `${d.sha256}:${d.size}`).sort() };
}

describe('extractLayerOffThread', () => {
  test('extracts to the same tree, with the same stats, as the calling thread', async () => {
    const here = await sb.newDir('here');
    const there = await sb.newDir('there');
    const options = { compression: 'gzip' as const, diffId: digestOf(tar) };
    const a = await extractLayer(chunked(gz), here, options);
    const b = await extractLayerOffThread(chunked(gz), there, options);
    // directories the layer does not list (/, usr, usr/lib, var) are made now, so their mtimes differ
    assert.deepEqual(await compareTrees(here, there, { names: ['here', 'there'], mtime: 'ms', ignoreDirMtimes: true }), []);
    for (const dir of ['etc', 'bin']) assert.equal((await lstat(path.join(there, dir))).mtimeMs, (await lstat(path.join(here, dir))).mtimeMs);
    assert.deepEqual(comparable(b), comparable(a));
    assert.equal(b.fileDigests.size, 3, 'a digest per regular file written (the marker too), keyed by the new inode');
  });

  test('keeps error codes across the thread: malformed data, a wrong diff_id, a failing input', async () => {
    await rejectsWith(extractLayerOffThread(chunked(Buffer.from('not gzip at all')), await sb.newDir('bad-gz'), { compression: 'gzip', diffId: digestOf(tar) }), 'E_LAYER_MALFORMED');
    await rejectsWith(extractLayerOffThread(chunked(gz), await sb.newDir('bad-diff'), { compression: 'gzip', diffId: digestOf('other') }), 'E_DIGEST_MISMATCH');
    const input = new PassThrough();
    const pending = extractLayerOffThread(input, await sb.newDir('bad-input'), { compression: 'gzip', diffId: digestOf(tar) });
    input.write(gz.subarray(0, 4096));
    input.destroy(new KeelError('E_SIZE_MISMATCH', 'blob is longer than its descriptor says', { hint: 'h' }));
    await assert.rejects(pending, (err) => err instanceof KeelError && err.code === 'E_SIZE_MISMATCH' && err.message === 'blob is longer than its descriptor says' && err.hint === 'h');
    // an input that failed before it was handed over: its events are past, its error is not lost
    const failed = new PassThrough();
    failed.on('error', () => undefined);
    failed.destroy(new KeelError('E_DIGEST_MISMATCH', 'blob does not match its digest'));
    await new Promise((resolve) => setImmediate(resolve));
    await rejectsWith(extractLayerOffThread(failed, await sb.newDir('failed-early'), { compression: 'gzip', diffId: digestOf(tar) }), 'E_DIGEST_MISMATCH');
  });

  test('stops with E_INTERRUPTED when the signal fires, and the thread extracts the next layer', async () => {
    const input = new PassThrough();
    const controller = new AbortController();
    const pending = extractLayerOffThread(input, await sb.newDir('aborted'), { compression: 'gzip', diffId: digestOf(tar), signal: controller.signal });
    input.write(gz.subarray(0, 65536));
    setTimeout(() => controller.abort(), 50);
    await rejectsWith(pending, 'E_INTERRUPTED');
    assert.ok(input.destroyed, 'the input is destroyed, as extractLayer does on failure');
    const stats = await extractLayerOffThread(chunked(gz), await sb.newDir('after-abort'), { compression: 'gzip', diffId: digestOf(tar) as Digest });
    assert.equal(stats.entries, 8);
  });

  test('a thread that dies fails its layers with E_INTERNAL; the next layer gets a new thread', async () => {
    const input = new PassThrough();
    const pending = extractLayerOffThread(input, await sb.newDir('orphan'), { compression: 'gzip', diffId: digestOf(tar) });
    input.write(gz.subarray(0, 4096));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await stopExtractThreads();
    await rejectsWith(pending, 'E_INTERNAL');
    const stats = await extractLayerOffThread(chunked(gz), await sb.newDir('new-thread'), { compression: 'gzip', diffId: digestOf(tar) });
    assert.equal(stats.entries, 8);
  });

  test("adds the thread's phase times to the caller's clock, and counts its CPU as extract", async () => {
    phaseClock.start();
    await extractLayerOffThread(chunked(gz), await sb.newDir('timed'), { compression: 'gzip', diffId: digestOf(tar) });
    const report = phaseClock.report();
    assert.ok((report.phases.extract?.count ?? 0) >= 5, JSON.stringify(report.phases));
    assert.ok((report.phases.verify?.count ?? 0) >= 1, 'the diff_id was hashed on the thread');
    assert.ok('extract' in report.cpuMs);
  });
});
