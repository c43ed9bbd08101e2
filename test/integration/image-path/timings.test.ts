// `keel pull --timings`: where a pull's time went, by phase and by thread,
// on stderr and in --json. Asserts the shape and that the figures belong to
// the pull (one fetch per layer fetched, none for a cached image), not values.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeOciLayout } from '../../helpers/oci-layout.ts';
import { runKeel, tempDir, type TempDir } from '../../helpers/run.ts';

describe('keel pull --timings', () => {
  let tmp: TempDir;
  let layout: string;
  before(async () => {
    tmp = await tempDir('keel-timings-');
    layout = join(tmp.path, 'layout');
    const big = 'x'.repeat(2 * 1024 * 1024);
    await writeOciLayout(layout, [
      {
        name: 'two',
        layers: [
          [{ name: 'etc/', type: 'directory' }, { name: 'etc/hostname', content: 'one\n' }, { name: 'big', content: big }],
          [{ name: 'second', content: 'two\n' }],
        ],
      },
    ]);
  });
  after(() => tmp.cleanup());

  it('reports per-phase times, layer counts and CPU by thread kind, in JSON and on stderr', async () => {
    const root = join(tmp.path, 'store');
    const r = await runKeel(['--root', root, 'pull', '--json', '--timings', '--quiet', `oci:${layout}:two`]);
    assert.equal(r.code, 0, r.stderr);
    const t = (JSON.parse(r.stdout) as { images: { timings: { wallMs: number; phases: Record<string, { ms: number; count: number }>; cpuMs: Record<string, number> } }[] }).images[0]!.timings;
    assert.ok(t.wallMs > 0);
    for (const phase of ['resolve', 'fetch', 'verify', 'extract', 'fingerprint', 'sync', 'commit']) {
      assert.ok(t.phases[phase] !== undefined && t.phases[phase].ms >= 0, `phase ${phase} in ${JSON.stringify(t.phases)}`);
    }
    assert.equal(t.phases.fetch?.count, 2, 'one fetch per layer');
    assert.equal(t.phases.fingerprint?.count, 2);
    assert.equal(t.phases.commit?.count, 2);
    assert.ok(t.cpuMs.main! > 0, JSON.stringify(t.cpuMs));
    assert.deepEqual(Object.keys(t.cpuMs).sort(), ['extract', 'main', 'other', 'pool', 'v8']);
    assert.equal(t.cpuMs.extract, 0, 'small layers extract on the main thread');

    const again = await runKeel(['--root', root, 'pull', '--timings', `oci:${layout}:two`]);
    assert.equal(again.code, 0, again.stderr);
    const line = again.stderr.split('\n').find((l) => l.startsWith('keel: timings: '));
    assert.ok(line, again.stderr);
    assert.match(line, /wall \d+\.\d\d s; resolve .*CPU main \d+\.\d\d s, pool/);
    assert.doesNotMatch(line, /fetch|extract|fingerprint/, 'a cached image fetches and extracts nothing');
  });

  it('extracts a layer of 32 MiB or more on an extraction thread, and counts its CPU as extract', async () => {
    const large = join(tmp.path, 'large-layout');
    // hex of random bytes: ~37 MB once gzipped, over OFF_THREAD_MIN_BYTES (32 MiB)
    await writeOciLayout(large, [{ name: 'large', layers: [[{ name: 'etc/', type: 'directory' }, { name: 'etc/a', content: 'a\n' }, { name: 'data.hex', content: randomBytes(34 << 20).toString('hex') }], [{ name: 'small', content: 'small\n' }]] }]);
    const root = join(tmp.path, 'store-large');
    const r = await runKeel(['--root', root, 'pull', '--json', '--timings', '--quiet', `oci:${large}:large`]);
    assert.equal(r.code, 0, r.stderr);
    const t = (JSON.parse(r.stdout) as { images: { timings: { phases: Record<string, { ms: number; count: number }>; cpuMs: Record<string, number> } }[] }).images[0]!.timings;
    assert.ok(t.cpuMs.extract! > 0, `the large layer ran on a keel-extract thread: ${JSON.stringify(t.cpuMs)}`);
    assert.ok((t.phases.verify?.count ?? 0) > 0 && (t.phases.extract?.count ?? 0) >= 3, `the thread's phases (etc/, etc/a) and the main thread's (small) reached the report: ${JSON.stringify(t.phases)}`);
    const checked = await runKeel(['--root', root, 'check']);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
  });
});
