// Proves the fixture set is what the other integration tests assume: every tag reaches a real
// registry (docker-registry, pushed by skopeo) with the expected manifest media type, layer count
// and layer media types, and umoci's reference rootfs of each image holds what fixtures.ts says.
// Needs root and: docker-registry, skopeo, umoci (and apt-get download for the `realistic` image).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { startRegistry, type Registry } from '../helpers/registry.ts';
import {
  bigFileStream, buildFixtures, pushFixtures, referenceTree, BIG_SIZE, type FixtureSet,
} from '../helpers/fixtures.ts';
import { runProgram, tempDir, type TempDir } from '../helpers/run.ts';
import { compareTrees, snapshotTree } from '../helpers/tree.ts';
import { MANIFEST_ACCEPT } from '../../src/oci/media-types.ts';

interface Descriptor { mediaType: string; digest: string; size: number; platform?: { architecture: string; os: string; variant?: string } }
interface Manifest { mediaType?: string; config: Descriptor; layers: Descriptor[]; manifests?: Descriptor[] }

async function skopeoRaw(ref: string): Promise<Manifest> {
  const r = await runProgram('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`]);
  assert.equal(r.code, 0, `skopeo inspect --raw ${ref}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Manifest;
}

describe('test fixtures in a real registry', { timeout: 600_000 }, () => {
  let registry: Registry;
  let set: FixtureSet;
  let tmp: TempDir;

  before(async () => {
    tmp = await tempDir('keel-fixtures-test-');
    registry = await startRegistry();
    const t0 = Date.now();
    set = await buildFixtures();
    const t1 = Date.now();
    await pushFixtures(set, registry.host);
    const t2 = Date.now();
    console.log(`# buildFixtures ${t1 - t0} ms (${set.reused ? 'reused' : 'cold'}), pushFixtures ${t2 - t1} ms`
      + `${set.missing.length ? `; missing: ${set.missing.map((m) => `${m.tag} (${m.reason})`).join('; ')}` : ''}`);
  });

  const contentType = async (tag: string): Promise<string | null> => {
    const res = await fetch(`http://${registry.host}/v2/${set.repo}/manifests/${tag}`, {
      method: 'HEAD', headers: { accept: MANIFEST_ACCEPT },
    });
    assert.equal(res.status, 200, `HEAD manifest ${tag}`);
    return res.headers.get('content-type');
  };

  after(async () => {
    await registry?.stop();
    await tmp?.cleanup();
  });

  it('pushes every tag with the expected manifest type, layer count and layer media types', async () => {
    assert.ok(set.images.length >= 7, 'all required images were built');
    for (const img of set.images) {
      const m = await skopeoRaw(`${registry.host}/${set.repo}:${img.tag}`);
      // umoci's OCI manifests carry no mediaType field (it is optional): the registry's
      // Content-Type is what says what they are
      assert.equal(await contentType(img.tag), img.manifestMediaType, `${img.tag}: Content-Type`);
      if (m.mediaType !== undefined) assert.equal(m.mediaType, img.manifestMediaType, `${img.tag}: manifest media type`);
      const children = img.platforms
        ? await Promise.all((m.manifests ?? []).map(async (d) => ({ d, m: await skopeoRaw(`${registry.host}/${set.repo}@${d.digest}`) })))
        : [{ d: undefined, m }];
      if (img.platforms) {
        const platforms = (m.manifests ?? []).map((d) => [d.platform?.os, d.platform?.architecture, d.platform?.variant].filter(Boolean).join('/'));
        assert.deepEqual(platforms, img.platforms.map((p) => p.platform), `${img.tag}: platforms`);
      }
      for (const child of children) {
        assert.equal(child.m.layers.length, img.layers, `${img.tag}: layer count`);
        for (const l of child.m.layers) assert.equal(l.mediaType, img.layerMediaType, `${img.tag}: layer media type`);
        const res = await fetch(`http://${registry.host}/v2/${set.repo}/blobs/${child.m.config.digest}`);
        const config = await res.json() as { architecture: string; config?: { Entrypoint?: string[]; Cmd?: string[] } };
        if (img.entrypoint) assert.deepEqual(config.config?.Entrypoint, img.entrypoint, `${img.tag}: entrypoint`);
        if (img.cmd) assert.deepEqual(config.config?.Cmd, img.cmd, `${img.tag}: cmd`);
        if (child.d?.platform) assert.equal(config.architecture, child.d.platform.architecture, `${img.tag}: config architecture`);
      }
    }
  });

  it('single and realistic: the reference rootfs runs its entrypoint (chroot)', async () => {
    for (const img of set.images.filter((i) => i.tag === 'single' || i.tag === 'realistic')) {
      const root = await referenceTree(set, img.layoutTag, join(tmp.path, img.tag));
      const r = await runProgram('chroot', [root, ...img.entrypoint!, ...img.cmd!]);
      assert.equal(r.code, 0, `${img.tag}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`keel-fixture-${img.tag}\\n$`));
    }
  });

  it('multi: umoci applies the whiteouts, the type changes and the opaque dir', async () => {
    const root = await referenceTree(set, 'multi', join(tmp.path, 'multi'));
    const s = await snapshotTree(root);
    const files = [...s.keys()].filter((p) => p !== '/');
    assert.deepEqual(files, [
      '/d2s', '/del', '/del/keep', '/etc', '/etc/hello', '/etc/layer2', '/f2d', '/f2d/inner', '/keep', '/keep/k',
      '/opaque', '/opaque/fresh', '/opq', '/opq/new',
    ]);
    assert.equal(s.get('/d2s')?.target, 'keep');
    assert.equal(s.get('/f2d')?.type, 'dir');
    assert.equal(await readFile(join(root, 'etc/hello'), 'utf8'), 'hello from layer 2\n');
  });

  it('modes: the reference rootfs keeps links, special bits, owners, names, FIFOs and mtimes', async () => {
    const root = await referenceTree(set, 'modes', join(tmp.path, 'modes'));
    const s = await snapshotTree(root);
    assert.deepEqual(s.get('/hard/b')?.links, ['/hard/a', '/hard/b', '/hard/c']);
    assert.equal(s.get('/sym/rel')?.target, '../hard/a');
    assert.equal(s.get('/sym/abs')?.target, '/hard/a');
    assert.equal(s.get('/sym/dangling')?.target, '/does/not/exist');
    assert.equal(s.get('/bits/setuid')?.mode, 0o4755);
    assert.equal(s.get('/bits/setgid')?.mode, 0o2755);
    assert.equal(s.get('/bits/sticky')?.mode, 0o1777);
    assert.equal(s.get('/bits/private')?.mode, 0o600);
    assert.equal(s.get('/bits/none')?.mode, 0o000);
    assert.equal(s.get('/owners/setuid-user')?.mode, 0o4750);
    assert.deepEqual([s.get('/owners/user/file')?.uid, s.get('/owners/user/file')?.gid], [1000, 1000]);
    assert.deepEqual([s.get('/owners/nobody')?.uid, s.get('/owners/nobody')?.gid], [65534, 65534]);
    assert.equal(s.get('/empty/fifo')?.type, 'fifo');
    assert.equal(s.get('/empty/file')?.size, 0);
    assert.equal(s.get('/empty/dir')?.type, 'dir');
    assert.ok(s.has('/names/dåtå/inside') && s.has('/names/日本語.txt'));
    assert.ok([...s.keys()].some((p) => p.startsWith('/names/long-') && p.length === '/names/'.length + 200));
    const mtimes = [...s.entries()].filter(([p]) => p !== '/').map(([, e]) => e.mtimeMs);
    const extraNames = [...s.entries()].filter(([p, e]) => e.links && e.linkGroup !== p).length;
    assert.equal(new Set(mtimes).size, mtimes.length - extraNames, 'distinct mtimes (one per inode)');
    assert.ok(mtimes.every((ms) => ms % 1000 === 0), 'umoci keeps whole seconds');
    // a second unpack is identical: the tree helper finds no difference on real data
    const again = await referenceTree(set, 'modes', join(tmp.path, 'modes2'));
    assert.deepEqual(await compareTrees(root, again, { ignoreRoot: true }), []);
  });

  it('big: the reference rootfs holds the deterministic 64 MiB file', async () => {
    const root = await referenceTree(set, 'big', join(tmp.path, 'big'));
    const [want, got] = await Promise.all([
      (async () => { const h = createHash('sha256'); await pipeline(bigFileStream(), h); return h.digest('hex'); })(),
      (async () => (await snapshotTree(root)).get('/big.bin')?.sha256)(),
    ]);
    assert.equal((await stat(join(root, 'big.bin'))).size, BIG_SIZE);
    assert.equal(got, want);
  });

  it('multiarch: each platform manifest unpacks with its own marker file', async () => {
    for (const arch of ['amd64', 'arm64']) {
      const root = await referenceTree(set, `multiarch-${arch}`, join(tmp.path, `ma-${arch}`));
      assert.equal(await readFile(join(root, 'etc/keel-fixture-arch'), 'utf8'), `${arch}\n`);
    }
  });

  it('stop() kills the registry and removes its storage', async () => {
    const r = await startRegistry();
    const res = await fetch(`http://${r.host}/v2/`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    await r.stop();
    await assert.rejects(stat(r.dataDir), { code: 'ENOENT' });
    await assert.rejects(fetch(`http://${r.host}/v2/`));
  });

  it('the registry dies with a test process that is SIGKILLed (no orphan servers)', async () => {
    const helper = new URL('../helpers/registry.ts', import.meta.url).pathname;
    const script = `import { startRegistry } from ${JSON.stringify(helper)};
      const r = await startRegistry(); console.log(r.host + ' ' + r.dataDir); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve) => child.stdout.once('data', (c: Buffer) => resolve(c.toString().trim())));
    const [host, dataDir] = line.split(' ');
    assert.equal((await fetch(`http://${host}/v2/`)).status, 200);
    child.kill('SIGKILL');
    let alive = true;
    for (let i = 0; i < 50 && alive; i++) {
      await new Promise((r) => setTimeout(r, 100));
      alive = await fetch(`http://${host}/v2/`).then(() => true, () => false);
    }
    assert.equal(alive, false, 'the orphaned registry still answers');
    await rm(dataDir!, { recursive: true, force: true }); // the exit hook cannot run on SIGKILL
  });
});
