// The etcd example end to end without systemd: scripts/images/build-etcd builds an etcd 3.4 OCI
// layout from Debian's packages, pullImage imports it (oci: transport, no registry), the shipped
// manifests/etcd.yaml is rendered (image and URLs by --set; the data dir moved under /var/tmp),
// `runc run -d` starts it, and `etcdctl endpoint health` answers from the host. Needs root, runc,
// umoci, etcd-client, and apt-get download access to Debian's packages.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_CONFIG } from '../../../src/config/index.ts';
import { parseManifestText, type ContainerSpec } from '../../../src/manifest/index.ts';
import { pullImage } from '../../../src/ops/pull.ts';
import { renderContainer } from '../../../src/ops/render.ts';
import { Store, fingerprintTree } from '../../../src/store/index.ts';
import { REPO_ROOT, runProgram, tempDir, type TempDir } from '../../helpers/run.ts';

const CLIENT = 'http://127.0.0.1:23791';
const PEER = 'http://127.0.0.1:23801';

describe('manifests/etcd.yaml under real runc', { timeout: 900_000 }, () => {
  let tmp: TempDir;
  let store: Store;
  let runcRoot: string;
  let started = false;
  const id = `keel-it-etcd-${process.pid}`;
  const runc = (args: string[]) => runProgram('runc', ['--root', runcRoot, ...args], { timeoutMs: 60_000 });

  before(async () => {
    tmp = await tempDir('keel-bundle-etcd-');
    runcRoot = `${tmp.path}/runc-state`;
    const layout = `${tmp.path}/etcd-layout`;
    const built = await runProgram('bash', [`${REPO_ROOT}/scripts/images/build-etcd`, layout], { timeoutMs: 600_000 });
    assert.equal(built.code, 0, `build-etcd: ${built.stderr}`);
    store = await Store.open(`${tmp.path}/keel`, { create: true });
    await pullImage(store, `oci:${layout}:3.4`, { source: { registry: { config: DEFAULT_CONFIG } } });
  });
  after(async () => {
    if (started) {
      await runc(['kill', id, 'KILL']);
      await sleep(200);
      await runc(['delete', '--force', id]);
    }
    await tmp?.cleanup();
  });

  it('renders the shipped manifest, runs it detached, and etcdctl endpoint health answers', async () => {
    const layout = `${tmp.path}/etcd-layout`;
    const dataDir = `${tmp.path}/etcd-data`;
    let text = await readFile(`${REPO_ROOT}/manifests/etcd.yaml`, 'utf8');
    // The manifest's data dir is not a variable: move it under /var/tmp for the test.
    assert.match(text, /source: \/var\/lib\/etcd\n/);
    text = text.replace('source: /var/lib/etcd\n', `source: ${dataDir}\n`);
    // Raising RLIMIT_NOFILE above the hard limit needs CAP_SYS_RESOURCE, which this sandbox lacks
    // (on a host the unit's LimitNOFILE= covers it): ask for no more than we have.
    // notify: true binds the host's /run/systemd/notify, which exists only under systemd; here plain
    // runc runs the bundle and no one listens for READY=1 (test/e2e/apply covers notify under systemd).
    assert.match(text, /\nnotify: true\n/);
    text = text.replace('\nnotify: true\n', '\nnotify: false\n');
    const hard = Number((await runProgram('sh', ['-c', 'ulimit -Hn'])).stdout.trim());
    if (Number.isSafeInteger(hard) && hard < 65536) text = text.replace('nofile: 65536', `nofile: ${hard}`);
    const r = parseManifestText(text, 'manifests/etcd.yaml', {
      set: { ETCD_IMAGE: `oci:${layout}:3.4`, ETCD_CLIENT_URL: CLIENT, ETCD_PEER_URL: PEER },
      builtins: { HOSTNAME: 'keel-it' },
    });
    assert.deepEqual(r.problems, []);
    const spec = r.specs[0] as ContainerSpec;

    const t0 = process.hrtime.bigint();
    const rendered = await renderContainer(store, spec, { cgroupsPath: null });
    console.log(`# etcd: first render (shared tree built) ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`);
    assert.ok((await stat(dataDir)).isDirectory(), 'create: true made the data dir');
    const config = JSON.parse(await readFile(`${rendered.bundleDir}/config.json`, 'utf8')) as { mounts: Array<{ destination: string }> };
    assert.ok(config.mounts.some((m) => m.destination === '/etc/hosts'), 'host network gets the host /etc/hosts');

    const record = JSON.parse(await readFile(`${rendered.bundleDir}/keel-bundle.json`, 'utf8')) as { image: { diffIds: string[] } };
    const layerDirs = record.image.diffIds.map((d) => store.layerPath(d as never));
    const before = await Promise.all(layerDirs.map((d) => fingerprintTree(d)));

    const log = `${tmp.path}/etcd.log`;
    const fd = openSync(log, 'a');
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('runc', ['--root', runcRoot, 'run', '-d', '--bundle', rendered.bundleDir, id], { stdio: ['ignore', fd, fd] });
      child.once('error', reject);
      child.once('exit', (c) => resolve(c));
    });
    closeSync(fd);
    assert.equal(code, 0, `runc run -d: ${await readFile(log, 'utf8')}`);
    started = true;

    let health = { code: -1, stdout: '', stderr: '' };
    for (let i = 0; i < 60; i++) {
      health = await runProgram('etcdctl', [`--endpoints=${CLIENT}`, 'endpoint', 'health'], { env: { ETCDCTL_API: '3' }, timeoutMs: 10_000 });
      if (health.code === 0) break;
      await sleep(500);
    }
    assert.equal(health.code, 0, `etcdctl endpoint health: ${health.stdout}${health.stderr}\netcd log:\n${await readFile(log, 'utf8')}`);
    assert.match(`${health.stdout}${health.stderr}`, /is healthy/);
    const put = await runProgram('etcdctl', [`--endpoints=${CLIENT}`, 'put', 'keel', 'works'], { env: { ETCDCTL_API: '3' } });
    assert.equal(put.code, 0, put.stderr);
    assert.ok((await stat(`${dataDir}/member`)).isDirectory(), 'etcd state lands in the host bind mount');

    const state = await runc(['state', id]);
    assert.match(state.stdout, /"status": "running"/);
    assert.equal((await runc(['kill', id, 'TERM'])).code, 0);
    for (let i = 0; i < 40 && !(await runc(['state', id])).stdout.includes('"stopped"'); i++) await sleep(250);
    assert.equal((await runc(['delete', '--force', id])).code, 0);
    started = false;
    assert.deepEqual(await Promise.all(layerDirs.map((d) => fingerprintTree(d))), before, 'the store\'s layer dirs are byte-identical');

    // The figure for docs/bundles.md: the 2nd..10th container of the same (etcd) image.
    const du = async (): Promise<number> => Number((await runProgram('du', ['-s', '--block-size=1', store.root])).stdout.split(/\s/)[0]);
    const rows: string[] = [];
    for (let i = 2; i <= 10; i++) {
      const other = parseManifestText(text.replace(/^name: etcd /m, `name: etcd${i} `), 'etcd.yaml', {
        set: { ETCD_IMAGE: `oci:${layout}:3.4`, ETCD_CLIENT_URL: CLIENT, ETCD_PEER_URL: PEER }, builtins: { HOSTNAME: 'keel-it' },
      }).specs[0] as ContainerSpec;
      assert.equal(other.name, `etcd${i}`);
      const du0 = await du();
      const t = process.hrtime.bigint();
      await renderContainer(store, other, { cgroupsPath: null });
      rows.push(`etcd${i}: ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms, +${(await du()) - du0} bytes`);
    }
    console.log(rows.map((l) => `# ${l}`).join('\n'));
  });
});
