// The Debian package, end to end: packaging/build-deb builds keel_<version>_amd64.deb
// (reused from /var/tmp/keel-deb-test-<checkout hash> when its inputs are unchanged:
// --cache), then INSIDE a disposable systemd guest (scripts/testhost) it is installed with
// dpkg as a user would,
// run on its bundled Node 24 with no node on PATH, keel.service started by systemd runs a
// busybox container pulled from the loopback registry, and `dpkg -r` / `--purge` remove
// keel but keep the store and the admin's manifests.
// Needs root, systemd-container, dpkg-deb, npm (its cache or the network), runc, umoci,
// skopeo, docker-registry, busybox-static. The tests share one guest and run in order.

import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startRegistry, type Registry } from '../../helpers/registry.ts';
import { bootTestHost, type ExecResult, type TestHost } from '../../helpers/testhost.ts';

const run = promisify(execFile);
const PROJECT = fileURLToPath(new URL('../../..', import.meta.url)).replace(/\/$/, '');
const BUILD_DEB = join(PROJECT, 'packaging/build-deb');
// One package cache per checkout (another checkout's build must not be installed here).
const DEB_DIR = `/var/tmp/keel-deb-test-${createHash('sha256').update(PROJECT).digest('hex').slice(0, 12)}`;
const MANIFESTS = '/etc/keel/manifests.d';

let host: TestHost | undefined;
let registry: Registry | undefined;
let work: string | undefined;
let deb: string;
let version: string;
let image: string;

function guest(): TestHost {
  assert.ok(host, 'the guest did not boot');
  return host;
}

async function ok(r: Promise<ExecResult>, what: string): Promise<string> {
  const res = await r;
  assert.equal(res.code, 0, `${what} failed (exit ${res.code}):\n${res.stdout}\n${res.stderr}`);
  return res.stdout;
}

const sh = (script: string, input?: string): Promise<ExecResult> =>
  guest().exec(['sh', '-c', script], input === undefined ? { timeoutMs: 180_000 } : { input, timeoutMs: 180_000 });

/** A one-layer static busybox image, built with umoci and pushed with skopeo. */
async function pushBusybox(dir: string, registryHost: string): Promise<string> {
  const layout = join(dir, 'busybox-layout');
  const bundle = join(dir, 'busybox-bundle');
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', `${layout}:1`]);
  await run('umoci', ['unpack', '--image', `${layout}:1`, bundle]);
  const bin = join(bundle, 'rootfs/bin');
  await mkdir(bin, { recursive: true });
  await copyFile('/bin/busybox', join(bin, 'busybox'));
  await chmod(join(bin, 'busybox'), 0o755);
  for (const applet of ['sh', 'sleep', 'echo', 'true']) await symlink('busybox', join(bin, applet));
  await run('umoci', ['repack', '--image', `${layout}:1`, bundle]);
  await run('umoci', ['config', '--image', `${layout}:1`, '--config.entrypoint', '/bin/sh']);
  const ref = `${registryHost}/busybox:1`;
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:1`, `docker://${ref}`], { maxBuffer: 1 << 24 });
  return ref;
}

before(async () => {
  version = (JSON.parse(await readFile(join(PROJECT, 'package.json'), 'utf8')) as { version: string }).version;
  const built = await run(BUILD_DEB, ['--cache', DEB_DIR], { timeout: 900_000, maxBuffer: 1 << 24 });
  deb = built.stdout.trim().split('\n').at(-1) ?? '';
  assert.equal(basename(deb), `keel_${version}_amd64.deb`, built.stderr);
  work = await mkdtemp('/var/tmp/keel-e2e-package-');
  registry = await startRegistry();
  image = await pushBusybox(work, registry.host);
  host = await bootTestHost(`package-${process.pid}`, { binds: [dirname(deb)] });
});

after(async () => {
  await host?.shutdown();
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

it('dpkg -i installs the package, enabled but not started', async () => {
  await ok(guest().exec(['dpkg', '-i', deb], { timeoutMs: 300_000 }), 'dpkg -i');
  const status = await ok(guest().exec(['dpkg-query', '-W', '-f', '${Status} ${Version}', 'keel']), 'dpkg-query');
  assert.equal(status, `install ok installed ${version}`);
  await ok(sh('test -x /usr/bin/keel && test -x /usr/lib/keel/node && test -f /usr/lib/keel/dist/cli/entry.js && test -d /etc/keel/manifests.d && test -f /usr/share/doc/keel/units.md && test -f /usr/share/keel/manifests/schema.json'), 'installed files');
  assert.equal((await guest().exec(['systemctl', 'is-enabled', 'keel.service'])).stdout.trim(), 'enabled');
  assert.equal((await guest().exec(['systemctl', 'is-active', 'keel.service'])).stdout.trim(), 'inactive');
});

it('keel --help and the example manifests name paths that exist on the installed host', async () => {
  const help = await ok(guest().exec(['keel', '--help']), 'keel --help');
  assert.match(help, /error codes: \/usr\/share\/doc\/keel\/errors\.md$/m);
  await ok(sh('test -f /usr/share/doc/keel/errors.md && test -f /usr/share/doc/keel/registries.md'), 'documents --help and hints name');
  const schemaLine = await ok(sh('head -1 /usr/share/keel/manifests/etcd.yaml'), 'etcd.yaml');
  assert.equal(schemaLine.trim(), '# yaml-language-server: $schema=/usr/share/keel/manifests/schema.json');
});

it('man keel and man 5 keel-manifest work; bash completes keel from the installed script', async () => {
  const page = await ok(sh('MANWIDTH=120 man keel 2>&1 | col -b'), 'man keel');
  assert.match(page, /^KEEL\(1\)/m);
  assert.match(page, /keel apply \[--set VAR=VALUE\]/);
  assert.match(page, /E_SPEC_INVALID \(78\)/);
  const manifest = await ok(sh('MANWIDTH=120 man 5 keel-manifest 2>&1 | col -b'), 'man 5 keel-manifest');
  assert.match(manifest, /^KEEL-MANIFEST\(5\)/m);
  assert.match(manifest, /healthCheck/);
  const words = await ok(sh("bash -c 'source /usr/share/bash-completion/completions/keel; COMP_WORDS=(keel sta); COMP_CWORD=1; _keel; echo ${COMPREPLY[@]}'"), 'bash completion');
  assert.equal(words.trim(), 'status');
});

it('keel runs on the bundled Node 24, never on a node from PATH', async () => {
  // No node reachable at all: the launcher names its own.
  const bare = await ok(guest().exec(['env', '-i', 'PATH=/nonexistent', '/usr/bin/keel', '--version']), 'keel --version without PATH');
  assert.equal(bare.trim(), `keel ${version}`);
  // A node on PATH that fails loudly if anyone runs it.
  const fake = await ok(
    sh(`mkdir -p /var/tmp/fakebin && printf '#!/bin/sh\\necho fake node >&2; exit 99\\n' > /var/tmp/fakebin/node && chmod 755 /var/tmp/fakebin/node && PATH=/var/tmp/fakebin:$PATH keel --version`),
    'keel --version with a fake node first on PATH',
  );
  assert.equal(fake.trim(), `keel ${version}`);
  const bundled = (await ok(guest().exec(['/usr/lib/keel/node', '--version']), 'bundled node')).trim();
  const pinned = (await run(join(PROJECT, 'node_modules/.bin/node'), ['--version'])).stdout.trim();
  assert.match(bundled, /^v24\./);
  assert.equal(bundled, pinned);
});

it('systemctl cat keel.service shows the packaged unit', async () => {
  const unit = await ok(guest().exec(['systemctl', 'cat', 'keel.service']), 'systemctl cat');
  // Debian 12's systemd names the merged-/usr alias /lib first; the package ships /usr/lib.
  assert.match(unit, /^# (\/usr)?\/lib\/systemd\/system\/keel\.service$/m);
  await ok(guest().exec(['dpkg', '-S', '/usr/lib/systemd/system/keel.service']), 'dpkg -S keel.service');
  assert.match(unit, /^ExecStart=\/usr\/bin\/keel boot$/m);
  assert.match(unit, /^ConditionDirectoryNotEmpty=\/etc\/keel\/manifests\.d$/m);
});

it('the shipped example manifests validate', async () => {
  const etcd = await ok(guest().exec(['keel', 'validate', '/usr/share/keel/manifests/etcd.yaml']), 'keel validate etcd.yaml');
  assert.match(etcd, /valid: 1 system container \(etcd\)/);
  const all = await ok(sh('keel validate /usr/share/keel/manifests/*.yaml'), 'keel validate all examples');
  assert.match(all, /valid: 3 system containers/);
});

it('systemctl enable --now keel.service runs the containers of /etc/keel/manifests.d', async () => {
  const manifest = `
name: hello
image: ${image}
command: [/bin/sh, -c, 'echo hello from the package; trap "exit 0" TERM; sleep 1000 & wait']
network: none
resources: { nofile: 1024 }
`;
  await ok(sh(`cat > ${MANIFESTS}/hello.yaml`, manifest), 'write the manifest');
  await ok(guest().exec(['systemctl', 'enable', '--now', 'keel.service'], { timeoutMs: 300_000 }), 'systemctl enable --now keel.service');
  const journal = async (): Promise<string> => (await guest().exec(['journalctl', '--no-pager', '-u', 'keel.service', '-u', 'hello.service'])).stdout;
  const keelState = await ok(guest().exec(['systemctl', 'show', '-p', 'ActiveState,Result', 'keel.service']), 'systemctl show keel');
  assert.match(keelState, /ActiveState=active/, `${keelState}\n${await journal()}`);
  // The store is empty: keel.service does not wait for the network; keel-pull-hello.service pulls
  // the image once the network is up and starts hello by itself.
  let state = '';
  for (let i = 0; i < 240 && state !== 'active'; i++) {
    state = (await guest().exec(['systemctl', 'is-active', 'hello.service'])).stdout.trim();
    if (state !== 'active') await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(state, 'active', await journal());
  const pulled = (await guest().exec(['journalctl', '--no-pager', '-u', 'keel-pull-hello.service'])).stdout;
  assert.match(pulled, /hello/, pulled);
  const status = await ok(guest().exec(['keel', 'status', 'hello']), 'keel status hello');
  assert.match(status, /hello/);
  assert.match(status, new RegExp(image.replace(/[.]/g, '\\.')));
  await ok(sh('test -f /var/lib/keel/index.json'), 'the store is the default /var/lib/keel');
});

it('dpkg -r removes keel but keeps the store and the manifests; --purge forgets the enablement', async () => {
  await ok(guest().exec(['dpkg', '-r', 'keel'], { timeoutMs: 300_000 }), 'dpkg -r');
  assert.notEqual((await guest().exec(['test', '-e', '/usr/bin/keel'])).code, 0, '/usr/bin/keel is still there');
  assert.notEqual((await guest().exec(['test', '-e', '/usr/lib/keel'])).code, 0, '/usr/lib/keel is still there');
  assert.notEqual((await guest().exec(['test', '-e', '/usr/lib/systemd/system/keel.service'])).code, 0);
  await ok(sh(`test -f /var/lib/keel/index.json && test -d /var/lib/keel/containers/hello && test -f ${MANIFESTS}/hello.yaml`), 'store and manifests kept');
  // The running container is the admin's: removing the tool does not stop it.
  assert.equal((await guest().exec(['systemctl', 'is-active', 'hello.service'])).stdout.trim(), 'active');
  const removed = await ok(guest().exec(['dpkg-query', '-W', '-f', '${Status}', 'keel']), 'dpkg-query after -r');
  assert.equal(removed, 'deinstall ok config-files');
  await ok(sh('test -L /etc/systemd/system/multi-user.target.wants/keel.service'), 'enablement kept by dpkg -r');

  await ok(guest().exec(['dpkg', '--purge', 'keel'], { timeoutMs: 300_000 }), 'dpkg --purge');
  assert.notEqual((await guest().exec(['test', '-e', '/etc/systemd/system/multi-user.target.wants/keel.service'])).code, 0, 'enablement left after purge');
  await ok(sh(`test -f /var/lib/keel/index.json && test -f ${MANIFESTS}/hello.yaml`), 'store and manifests kept by purge');
});
