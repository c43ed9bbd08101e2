// A misbehaving registry: the project's fault-injecting front (test/helpers/
// fault-proxy.ts) before the real docker-registry. Corrupt data is refused and
// never stored; transient faults are retried and the pull succeeds; `keel
// check` passes after every case, including after kill -9 in mid-pull.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.ts';
import { buildFixtures, FIXTURE_REPO, pushFixtures } from '../../helpers/fixtures.ts';
import { startRegistry, type Registry } from '../../helpers/registry.ts';
import { KEEL_BIN, REPO_ROOT, runKeel, tempDir, type TempDir } from '../../helpers/run.ts';

let registry: Registry;
let proxy: FaultProxy;
let work: TempDir;
let n = 0;

const BLOB = /\/blobs\/sha256:/;
const newStore = (): string => path.join(work.path, `store-${++n}`);
const ref = (tag: string): string => `${proxy.host}/${FIXTURE_REPO}:${tag}`;

async function assertConsistent(store: string): Promise<void> {
  const checked = await runKeel(['--root', store, 'check']);
  assert.equal(checked.code, 0, `keel check: ${checked.stdout}${checked.stderr}`);
}

async function storedBlobs(store: string): Promise<string[]> {
  return readdir(path.join(store, 'blobs', 'sha256')).catch(() => []);
}

before(async () => {
  const fixtures = await buildFixtures();
  registry = await startRegistry();
  await pushFixtures(fixtures, registry.host, { tags: ['single', 'multi', 'big'] });
  proxy = await startFaultProxy(`http://${registry.host}`);
  work = await tempDir('keel-faults-');
});

afterEach(() => {
  proxy.faults.clear();
  proxy.log.length = 0;
});

after(async () => {
  await proxy?.close();
  await registry?.stop();
  await work?.cleanup();
});

describe('transient faults are retried and the pull succeeds', () => {
  test('three 500s on a blob', async () => {
    proxy.faults.fail(BLOB, { status: 500, times: 3 });
    const store = newStore();
    const r = await runKeel(['--root', store, 'pull', ref('multi')]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(proxy.log.filter((l) => l.status === 500).length === 3);
    await assertConsistent(store);
  });

  test('429 with Retry-After', async () => {
    proxy.faults.tooManyRequests(/\/manifests\//, 1, 1);
    const store = newStore();
    const r = await runKeel(['--root', store, 'pull', ref('single')]);
    assert.equal(r.code, 0, r.stderr);
    await assertConsistent(store);
  });

  test('a body cut short resumes with a Range request', async () => {
    proxy.faults.truncate(BLOB, 1 << 20, 2);
    const store = newStore();
    const r = await runKeel(['--root', store, 'pull', ref('big')]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(proxy.log.some((l) => l.range?.startsWith('bytes=')), 'a Range request was made');
    await assertConsistent(store);
  });

  test('a body cut short by a server that ignores Range', async () => {
    proxy.faults.truncate(BLOB, 1 << 20, 1).ignoreRange(BLOB);
    const store = newStore();
    const r = await runKeel(['--root', store, 'pull', ref('big')]);
    assert.equal(r.code, 0, r.stderr);
    await assertConsistent(store);
  });

  test('a slow body', async () => {
    proxy.faults.slow(BLOB, 2, 64 << 10);
    const store = newStore();
    const r = await runKeel(['--root', store, 'pull', ref('multi')]);
    assert.equal(r.code, 0, r.stderr);
    await assertConsistent(store);
  });

  test('a 401 Bearer challenge with credentials from --authfile, blobs redirected to another host', async () => {
    proxy.faults.requireAuth({ username: 'keel', password: 's3cret' }).redirectToCdn(BLOB);
    const authfile = path.join(work.path, 'auth.json');
    await writeFile(authfile, JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from('keel:s3cret').toString('base64') } } }));
    const store = newStore();
    const r = await runKeel(['--root', store, 'pull', '--authfile', authfile, ref('multi')]);
    assert.equal(r.code, 0, r.stderr);
    const cdn = proxy.log.filter((l) => l.listener === 'cdn');
    assert.ok(cdn.length > 0, 'blobs came from the other host');
    assert.ok(cdn.every((l) => !l.authorization), 'credentials never reach another host');
    assert.ok(proxy.log.some((l) => l.listener === 'proxy' && l.authorization?.startsWith('Bearer ')));
    await assertConsistent(store);
  });
});

describe('bad data is refused and never stored', () => {
  test('wrong bytes in a layer: E_DIGEST_MISMATCH, exit 76, nothing of it stored', async () => {
    proxy.faults.corrupt(BLOB);
    const store = newStore();
    const r = await runKeel(['--root', store, 'pull', ref('single')]);
    assert.equal(r.code, 76, r.stderr);
    assert.match(r.stderr, /E_DIGEST_MISMATCH/);
    assert.deepEqual(await storedBlobs(store), [], 'no blob of a failed pull is kept');
    const images = await runKeel(['--root', store, 'images', '--json']);
    assert.deepEqual(JSON.parse(images.stdout), []);
    await assertConsistent(store);
  });

  test('a manifest whose bytes do not match the pinned digest', async () => {
    const good = await runKeel(['--root', newStore(), 'pull', '-q', ref('single')]);
    const digest = good.stdout.trim();
    proxy.faults.corrupt(/\/manifests\//);
    const store = newStore();
    const r = await runKeel(['--root', store, 'pull', `${proxy.host}/${FIXTURE_REPO}@${digest}`]);
    assert.equal(r.code, 76, r.stderr);
    assert.match(r.stderr, /E_DIGEST_MISMATCH/);
    await assertConsistent(store);
  });

  test('wrong credentials: E_REGISTRY_DENIED, exit 77', async () => {
    proxy.faults.requireAuth({ username: 'keel', password: 's3cret' });
    const authfile = path.join(work.path, 'bad-auth.json');
    await writeFile(authfile, JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from('keel:wrong').toString('base64') } } }));
    const r = await runKeel(['--root', newStore(), 'pull', '--authfile', authfile, ref('single')]);
    assert.equal(r.code, 77, r.stderr);
    assert.match(r.stderr, /E_REGISTRY_DENIED/);
    assert.doesNotMatch(r.stderr, /wrong/, 'the password is never printed');
  });

  test('a registry that keeps failing: E_REGISTRY_UNAVAILABLE, exit 75', async () => {
    proxy.faults.fail(/\/manifests\//, { status: 503, times: Infinity });
    const r = await runKeel(['--root', newStore(), 'pull', ref('single')]);
    assert.equal(r.code, 75, r.stderr);
    assert.match(r.stderr, /E_REGISTRY_UNAVAILABLE/);
  });
});

describe('interruptions and concurrency', () => {
  test('kill -9 in the middle of a pull, then a second pull completes and the store is consistent', async () => {
    proxy.faults.slow(BLOB, 20, 256 << 10);
    const store = newStore();
    const child = spawn(KEEL_BIN, ['--root', store, 'pull', ref('big')], { cwd: REPO_ROOT, stdio: 'ignore' });
    // Kill once some of the blob has gone through.
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (proxy.log.some((l) => BLOB.test(l.path))) {
          clearInterval(timer);
          setTimeout(resolve, 400);
        }
      }, 20);
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    await assertConsistent(store);
    proxy.faults.clear();
    const r = await runKeel(['--root', store, 'pull', ref('big')]);
    assert.equal(r.code, 0, r.stderr);
    await assertConsistent(store);
    assert.deepEqual(await readdir(path.join(store, 'tmp')), [], 'the dead run\'s leftovers were cleaned');
  });

  test('two pulls of the same image at once: both succeed, each blob is downloaded once', async () => {
    proxy.faults.slow(BLOB, 5, 256 << 10);
    const store = newStore();
    const [a, b] = await Promise.all([runKeel(['--root', store, 'pull', ref('multi')]), runKeel(['--root', store, 'pull', ref('multi')])]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(a.stdout, b.stdout);
    const gets = proxy.log.filter((l) => l.listener === 'proxy' && BLOB.test(l.path) && l.method === 'GET' && l.status < 300);
    const perBlob = new Map<string, number>();
    for (const g of gets) perBlob.set(g.path, (perBlob.get(g.path) ?? 0) + 1);
    for (const [blob, count] of perBlob) assert.equal(count, 1, `${blob} fetched ${count} times`);
    await assertConsistent(store);
  });

  test('prune while a pull runs waits for it; the image stays whole', async () => {
    proxy.faults.slow(BLOB, 5, 256 << 10);
    const store = newStore();
    const pulling = runKeel(['--root', store, 'pull', ref('multi')]);
    await new Promise((r) => setTimeout(r, 300));
    const pruning = runKeel(['--root', store, 'prune']);
    const [p, q] = await Promise.all([pulling, pruning]);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(q.code, 0, q.stderr);
    await assertConsistent(store);
    const unpacked = await runKeel(['--root', store, 'unpack', ref('multi'), path.join(work.path, `bundle-${n}`)]);
    assert.equal(unpacked.code, 0, unpacked.stderr);
  });
});
