// A rendered bundle run by real runc (as root, no systemd): the container's own output shows the
// args, env, user, cwd, bind mount, capabilities and host files the manifest asked for; the
// read-only rootfs refuses writes; a writable rootfs writes into its own overlay upper only; the
// store's layer directories are byte-identical afterwards. Also measures rendering the 2nd..10th
// container of one image (time and bytes on disk). Needs root, runc, umoci, busybox-static.

import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CONFIG } from '../../../src/config/index.ts';
import { parseManifestText, type ContainerSpec } from '../../../src/manifest/index.ts';
import { pullImage } from '../../../src/ops/pull.ts';
import { prepareRootfs, releaseRootfs, renderContainer } from '../../../src/ops/render.ts';
import { Store, fingerprintTree } from '../../../src/store/index.ts';
import { runProgram, tempDir, type TempDir } from '../../helpers/run.ts';
import { buildBusyboxImage } from './image.ts';

function spec(yaml: string): ContainerSpec {
  const r = parseManifestText(yaml, 'it.yaml', { builtins: { HOSTNAME: 'node1' } });
  assert.deepEqual(r.problems, []);
  return r.specs[0] as ContainerSpec;
}

async function duBytes(dir: string): Promise<number> {
  const r = await runProgram('du', ['-s', '--block-size=1', dir]);
  assert.equal(r.code, 0, r.stderr);
  return Number(r.stdout.split(/\s/)[0]);
}

describe('bundles under real runc', { timeout: 600_000 }, () => {
  let tmp: TempDir;
  let store: Store;
  let image: string;
  let data: string;
  let runcRoot: string;
  let layerDirs: string[];

  const runc = (args: string[]) => runProgram('runc', ['--root', runcRoot, ...args], { timeoutMs: 60_000 });

  before(async () => {
    tmp = await tempDir('keel-bundle-runc-');
    image = await buildBusyboxImage(tmp.path);
    store = await Store.open(`${tmp.path}/keel`, { create: true });
    await pullImage(store, image, { source: { registry: { config: DEFAULT_CONFIG } } });
    data = `${tmp.path}/data`;
    runcRoot = `${tmp.path}/runc-state`;
    await mkdir(data);
    await writeFile(`${data}/hello.txt`, 'hello from the host\n');
    const refs = await store.listRefs();
    const manifest = JSON.parse((await store.readBlob(refs[0]!.descriptor.digest, 1 << 20)).toString()) as { config: { digest: string } };
    const config = JSON.parse((await store.readBlob(manifest.config.digest as never, 1 << 20)).toString()) as { rootfs: { diff_ids: string[] } };
    layerDirs = config.rootfs.diff_ids.map((d) => store.layerPath(d as never));
  });
  after(async () => {
    await tmp?.cleanup();
  });

  const probeYaml = (name: string, user: string) => `
name: ${name}
image: ${image}
command: [/bin/sh, -c, 'echo "ARGS=$0,$1"; echo "ID=$(id)"; echo "CWD=$(pwd)"; env | sort; echo "DATA=$(cat /data/hello.txt)"; grep Cap /proc/self/status; touch /rootfs-write 2>/dev/null && echo WRITE=ok || echo WRITE=refused; grep -c localhost /etc/hosts | sed s/^/HOSTS=/; echo HOSTNAME=$(hostname); echo NOFILE=$(ulimit -n)']
args: [first, second]
env: { GREETING: manifest, EXTRA: "42" }
user: "${user}"
workingDir: /work/dir
mounts:
  - { type: bind, source: ${data}, target: /data }
  - { type: tmpfs, target: /tmp, size: 1M }
capabilities: { drop: [ALL], add: [CAP_KILL, CAP_NET_BIND_SERVICE] }
resources: { nofile: 2048 }
`;

  it('the container sees the args, env, user, cwd, mount, capabilities and host files asked for; the rootfs is read-only', async () => {
    const before = await Promise.all(layerDirs.map((d) => fingerprintTree(d)));
    const app = await renderContainer(store, spec(probeYaml('probe', 'app')), { cgroupsPath: null });
    const root = await renderContainer(store, spec(probeYaml('probe-root', '0')), { cgroupsPath: null });
    const tree = (JSON.parse(await readFile(`${app.bundleDir}/keel-bundle.json`, 'utf8')) as { sharedRootfs: string }).sharedRootfs;
    const treeBefore = await fingerprintTree(tree);
    const out = await runc(['run', '--bundle', app.bundleDir, 'keel-it-probe']);
    assert.equal(out.code, 0, `runc run: ${out.stderr}\n${out.stdout}`);
    const lines = out.stdout.split('\n');
    const has = (l: string) => assert.ok(lines.includes(l), `missing ${JSON.stringify(l)} in:\n${out.stdout}`);
    has('ARGS=first,second');
    has('ID=uid=1234(app) gid=1234(app) groups=555(extra)');
    has('NOFILE=2048');
    has('CWD=/work/dir');
    has('GREETING=manifest');
    has('FROM_IMAGE=yes');
    has('EXTRA=42');
    has('HOME=/home/app');
    has('DATA=hello from the host');
    has('CapBnd:\t0000000000000420');
    has('CapEff:\t0000000000000000'); // non-root: no ambient set, as with docker
    has('WRITE=refused');
    has('HOSTS=1');
    has(`HOSTNAME=${(await readFile('/proc/sys/kernel/hostname', 'utf8')).trim()}`);

    const out2 = await runc(['run', '--bundle', root.bundleDir, 'keel-it-probe-root']);
    assert.equal(out2.code, 0, out2.stderr);
    assert.ok(out2.stdout.includes('CapEff:\t0000000000000420'), out2.stdout);
    assert.ok(out2.stdout.includes('CapPrm:\t0000000000000420'), out2.stdout);
    assert.ok(out2.stdout.includes('WRITE=refused'), 'root cannot write the read-only rootfs either');
    assert.ok(out2.stdout.includes('ID=uid=0(root) gid=0(root)'), out2.stdout);

    assert.deepEqual(await Promise.all(layerDirs.map((d) => fingerprintTree(d))), before, 'the store\'s layer dirs are byte-identical');
    assert.equal(await fingerprintTree(tree), treeBefore, 'runc wrote nothing into the shared tree (mount points were pre-created)');
  });

  it('a writable rootfs writes into its own overlay upper, never the shared tree or the store', async () => {
    const before = await Promise.all(layerDirs.map((d) => fingerprintTree(d)));
    const r = await renderContainer(store, spec(`
name: scribble
image: ${image}
command: [/bin/sh, -c, 'echo new > /created && echo changed > /etc/passwd && cat /created']
readOnlyRootfs: false
resources: { nofile: 1024 }
`), { cgroupsPath: null });
    const prep = await prepareRootfs(r.bundleDir);
    assert.equal(prep.mounted, true);
    assert.equal((await prepareRootfs(r.bundleDir)).mounted, false, 'idempotent');
    try {
      const out = await runc(['run', '--bundle', r.bundleDir, 'keel-it-scribble']);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout, 'new\n');
    } finally {
      assert.equal(await releaseRootfs(r.bundleDir), true);
    }
    assert.equal(await readFile(`${r.bundleDir}/upper/created`, 'utf8'), 'new\n');
    const record = JSON.parse(await readFile(`${r.bundleDir}/keel-bundle.json`, 'utf8')) as { sharedRootfs: string };
    await assert.rejects(lstat(`${record.sharedRootfs}/created`), { code: 'ENOENT' });
    assert.match(await readFile(`${record.sharedRootfs}/etc/passwd`, 'utf8'), /^root:/);
    assert.deepEqual(await Promise.all(layerDirs.map((d) => fingerprintTree(d))), before);
  });

  it('measures the 2nd..10th container of one image (time, bytes on disk)', async () => {
    const keelRoot = store.root;
    await renderContainer(store, spec(probeYaml('m1', 'app')), { cgroupsPath: null });
    const rows: string[] = [];
    let total = 0;
    for (let i = 2; i <= 10; i++) {
      const du0 = await duBytes(keelRoot);
      const t0 = process.hrtime.bigint();
      const r = await renderContainer(store, spec(probeYaml(`m${i}`, 'app')), { cgroupsPath: null });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const delta = (await duBytes(keelRoot)) - du0;
      total += delta;
      assert.equal(r.changed, true);
      assert.ok(delta < 64 * 1024, `container ${i} added ${delta} bytes`);
      rows.push(`m${i}: ${ms.toFixed(1)} ms, +${delta} bytes`);
    }
    const t0 = process.hrtime.bigint();
    const again = await renderContainer(store, spec(probeYaml('m10', 'app')), { cgroupsPath: null });
    const unchangedMs = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(again.changed, false);
    const report = `${rows.join('\n')}\ntotal for 9 containers: +${total} bytes; unchanged re-render: ${unchangedMs.toFixed(1)} ms`;
    console.log(report.split('\n').map((l) => `# ${l}`).join('\n'));
    if (process.env['KEEL_MEASURE_OUT']) await writeFile(process.env['KEEL_MEASURE_OUT'], `${report}\n`);
  });
});
