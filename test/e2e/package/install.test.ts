// The Debian package, end to end: packaging/build-deb builds keel_<version>_amd64.deb
// (reused from /var/tmp/keel-deb-test-<checkout hash> when its inputs are unchanged:
// --cache), then INSIDE a disposable systemd guest (scripts/testhost) it is installed with
// dpkg as a user would,
// run on its bundled Node 24 with no node on PATH, keel.service started by systemd runs a
// busybox container pulled from the loopback registry; an upgrade restarts nothing, `dpkg -r`
// leaves the container running and says so, `--purge` stops it and deletes the store but
// keeps the admin's manifests (docs/packaging.md). lintian finds no error in the package.
// Needs root, systemd-container, dpkg-deb, npm (its cache or the network), runc, umoci,
// skopeo, docker-registry, busybox-static, lintian. The tests share one guest and run in order.

import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { after, before, it } from 'node:test';
import { promisify } from 'node:util';
import { pushBusyboxImage } from '../../helpers/busybox-image.ts';
import { PROJECT, ok, tearDown } from '../../helpers/guest.ts';
import { startRegistry, type Registry } from '../../helpers/registry.ts';
import { bootTestHost, type ExecResult, type TestHost } from '../../helpers/testhost.ts';

const run = promisify(execFile);
const BUILD_DEB = join(PROJECT, 'packaging/build-deb');
// One package cache per checkout (another checkout's build must not be installed here).
const DEB_DIR = `/var/tmp/keel-deb-test-${createHash('sha256').update(PROJECT).digest('hex').slice(0, 12)}`;
const MANIFESTS = '/etc/keel/manifests.d';
// Where deb-systemd-helper records the links it made (what `deb-systemd-helper purge` removes).
const DSH_STATE = '/var/lib/systemd/deb-systemd-helper-enabled';

let host: TestHost | undefined;
let registry: Registry | undefined;
let work: string | undefined;
let deb: string;
let version: string;
let image: string;
let lintian: Promise<ExecResult>;
// The lintian warnings docs/packaging.md explains (its errors are fixed or overridden there).
const EXPLAINED_LINTIAN_WARNINGS = ['hardening-no-pie', 'maintainer-script-calls-systemctl', 'script-not-executable'];

function guest(): TestHost {
  assert.ok(host, 'the guest did not boot');
  return host;
}

const sh = (script: string, input?: string): Promise<ExecResult> =>
  guest().exec(['sh', '-c', script], input === undefined ? { timeoutMs: 180_000 } : { input, timeoutMs: 180_000 });

/** A one-layer static busybox image, built with umoci and pushed with skopeo. */
function pushBusybox(dir: string, registryHost: string): Promise<string> {
  return pushBusyboxImage(join(dir, 'busybox'), `${registryHost}/busybox:1`, { applets: ['sh', 'sleep', 'echo', 'true'] });
}

before(async () => {
  version = (JSON.parse(await readFile(join(PROJECT, 'package.json'), 'utf8')) as { version: string }).version;
  const built = await run(BUILD_DEB, ['--cache', DEB_DIR], { timeout: 900_000, maxBuffer: 1 << 24 });
  deb = built.stdout.trim().split('\n').at(-1) ?? '';
  assert.equal(basename(deb), `keel_${version}_amd64.deb`, built.stderr);
  // On the build machine, while the guest boots (~25 s).
  lintian = run('lintian', ['--fail-on', 'error', deb], { maxBuffer: 1 << 24 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(e) }),
  );
  work = await mkdtemp('/var/tmp/keel-e2e-package-');
  registry = await startRegistry();
  image = await pushBusybox(work, registry.host);
  host = await bootTestHost(`package-${process.pid}`, { binds: [dirname(deb)] });
  // The guest is a booted host, not a `docker build`: drop the machine image's Docker
  // policy-rc.d (exit 101: no service may be started or stopped by a package), which
  // deb-systemd-invoke honours.
  await ok(sh('rm -f /usr/sbin/policy-rc.d'), 'remove policy-rc.d in the guest');
});

after(() => tearDown({ host, registry, work }));

it('dpkg -i installs the package, enabled but not started', async () => {
  await ok(guest().exec(['dpkg', '-i', deb], { timeoutMs: 300_000 }), 'dpkg -i');
  const status = await ok(guest().exec(['dpkg-query', '-W', '-f', '${Status} ${Version}', 'keel']), 'dpkg-query');
  assert.equal(status, `install ok installed ${version}`);
  await ok(sh('test -x /usr/bin/keel && test -x /usr/lib/keel/node && test -f /usr/lib/keel/dist/cli/entry.js && test -d /etc/keel/manifests.d && test -f /usr/share/doc/keel/units.md && test -f /usr/share/keel/manifests/schema.json'), 'installed files');
  assert.equal((await guest().exec(['systemctl', 'is-enabled', 'keel.service'])).stdout.trim(), 'enabled');
  assert.equal((await guest().exec(['systemctl', 'is-active', 'keel.service'])).stdout.trim(), 'inactive');
  // Enabled by deb-systemd-helper, which records the links so that a purge removes them.
  await ok(sh(`test -f ${DSH_STATE}/keel.service.dsh-also && test -f ${DSH_STATE}/keel-update.timer.dsh-also`), 'deb-systemd-helper state of the units');
  assert.equal((await guest().exec(['systemctl', 'is-enabled', 'keel-update.timer'])).stdout.trim(), 'disabled');
});

it('lintian finds no error in the package, only the warnings docs/packaging.md explains', async () => {
  const res = await lintian;
  const tags = [...res.stdout.matchAll(/^([EW]): keel: (\S+)/gm)].map((m) => ({ level: m[1], tag: m[2] as string }));
  assert.deepEqual(tags.filter((t) => t.level === 'E'), [], res.stdout);
  assert.equal(res.code, 0, `lintian exit ${res.code}\n${res.stdout}\n${res.stderr}`);
  const unexplained = tags.filter((t) => !EXPLAINED_LINTIAN_WARNINGS.includes(t.tag));
  assert.deepEqual(unexplained, [], `warnings docs/packaging.md does not explain:\n${res.stdout}`);
  const doc = await readFile(join(PROJECT, 'docs/packaging.md'), 'utf8');
  for (const tag of EXPLAINED_LINTIAN_WARNINGS) assert.match(doc, new RegExp(`\`${tag}[\` ]`), `docs/packaging.md does not name ${tag}`);
});

it('keel --help and the example manifests name paths that exist on the installed host', async () => {
  const help = await ok(guest().exec(['keel', '--help']), 'keel --help');
  assert.match(help, /error codes: \/usr\/share\/doc\/keel\/errors\.md$/m);
  await ok(sh('test -f /usr/share/doc/keel/errors.md && test -f /usr/share/doc/keel/registries.md'), 'documents --help and hints name');
  const schemaLine = await ok(sh('head -1 /usr/share/keel/manifests/etcd.yaml'), 'etcd.yaml');
  assert.equal(schemaLine.trim(), '# yaml-language-server: $schema=/usr/share/keel/manifests/schema.json');
});

it('man keel, man 5 keel-manifest and man 5 keel.yaml work; bash completes keel from the installed script', async () => {
  const page = await ok(sh('MANWIDTH=120 man keel 2>&1 | col -b'), 'man keel');
  assert.match(page, /^KEEL\(1\)/m);
  assert.match(page, /keel apply \[--set VAR=VALUE\]/);
  assert.match(page, /E_SPEC_INVALID \(78\)/);
  const manifest = await ok(sh('MANWIDTH=120 man 5 keel-manifest 2>&1 | col -b'), 'man 5 keel-manifest');
  assert.match(manifest, /^KEEL-MANIFEST\(5\)/m);
  assert.match(manifest, /healthCheck/);
  const config = await ok(sh('MANWIDTH=120 man 5 keel.yaml 2>&1 | col -b'), 'man 5 keel.yaml');
  assert.match(config, /registries\.KEY\.mirrors/);
  const words = await ok(sh("bash -c 'source /usr/share/bash-completion/completions/keel; COMP_WORDS=(keel sta); COMP_CWORD=1; _keel; echo ${COMPREPLY[@]}'"), 'bash completion');
  assert.equal(words.trim(), 'status');
  const fish = await ok(sh('fish --no-config -c "source /usr/share/fish/vendor_completions.d/keel.fish; complete -C \'keel sta\'"'), 'fish completion');
  assert.match(fish, /^status\t/);
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
# A writable rootfs is an overlay mounted under the store: purge must unmount it.
readOnlyRootfs: false
`;
  // The guest's / is an overlay, which overlayfs cannot use as an upper layer: the store gets a
  // file system of its own, as on a host whose /var/lib/keel is a disk of its own.
  await ok(sh('mkdir -p /var/lib/keel && mount -t tmpfs -o mode=0700,size=256m keel-store /var/lib/keel'), 'a tmpfs for the store');
  await ok(sh(`cat > ${MANIFESTS}/hello.yaml`, manifest), 'write the manifest');
  await ok(guest().exec(['systemctl', 'enable', '--now', 'keel.service'], { timeoutMs: 300_000 }), 'systemctl enable --now keel.service');
  const journal = async (): Promise<string> => (await guest().exec(['journalctl', '--no-pager', '-u', 'keel.service', '-u', 'keel-pull-hello.service', '-u', 'hello.service'])).stdout;
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
  assert.match(await storeMounts(), /^\/var\/lib\/keel\/.*rootfs$/m, 'the writable rootfs is an overlay under the store');
});

/** What systemd says of a unit's properties, as NAME=value lines. */
const show = async (unit: string, props: string): Promise<string> => ok(guest().exec(['systemctl', 'show', '-p', props, unit]), `systemctl show ${unit}`);
/** Mount points under the store, one a line. */
const storeMounts = async (): Promise<string> => (await sh('findmnt -rn -o TARGET | grep ^/var/lib/keel/ || true')).stdout;

it('an upgrade (dpkg -i of the package again) restarts neither a container nor keel.service, and keeps an admin\'s disable', async () => {
  const before = await show('hello.service', 'MainPID,ActiveState');
  const keelBefore = await show('keel.service', 'InvocationID,ActiveState');
  assert.match(before, /ActiveState=active/);
  assert.match(keelBefore, /ActiveState=active/);
  const out = await ok(guest().exec(['dpkg', '-i', deb], { timeoutMs: 300_000 }), 'dpkg -i (upgrade)');
  assert.doesNotMatch(out, /keep running/, 'an upgrade is not a removal');
  assert.equal(await show('hello.service', 'MainPID,ActiveState'), before, 'hello.service was restarted by the upgrade');
  assert.equal(await show('keel.service', 'InvocationID,ActiveState'), keelBefore, 'keel.service was restarted by the upgrade');
  assert.equal((await guest().exec(['systemctl', 'is-enabled', 'keel.service'])).stdout.trim(), 'enabled');
  // The new keel manages what the old one started.
  assert.match(await ok(guest().exec(['keel', 'status', 'hello']), 'keel status after the upgrade'), /hello/);

  // An admin's `systemctl disable` survives an upgrade; their enable again, too.
  await ok(guest().exec(['systemctl', 'disable', 'keel.service']), 'systemctl disable');
  await ok(guest().exec(['dpkg', '-i', deb], { timeoutMs: 300_000 }), 'dpkg -i (upgrade while disabled)');
  assert.equal((await guest().exec(['systemctl', 'is-enabled', 'keel.service'])).stdout.trim(), 'disabled');
  await ok(guest().exec(['systemctl', 'enable', 'keel.service']), 'systemctl enable');
  assert.equal(await show('hello.service', 'MainPID,ActiveState'), before, 'hello.service was restarted by the second upgrade');
});

it('dpkg -r removes keel, leaves the container running and names it, keeps the store and the manifests', async () => {
  const before = await show('hello.service', 'MainPID,ActiveState');
  const out = await ok(guest().exec(['dpkg', '-r', 'keel'], { timeoutMs: 300_000 }), 'dpkg -r');
  assert.match(out, /keep running until stopped .* or the next reboot: hello$/m, out);
  assert.notEqual((await guest().exec(['test', '-e', '/usr/bin/keel'])).code, 0, '/usr/bin/keel is still there');
  assert.notEqual((await guest().exec(['test', '-e', '/usr/lib/keel'])).code, 0, '/usr/lib/keel is still there');
  assert.notEqual((await guest().exec(['test', '-e', '/usr/lib/systemd/system/keel.service'])).code, 0);
  await ok(sh(`test -f /var/lib/keel/index.json && test -d /var/lib/keel/containers/hello && test -f ${MANIFESTS}/hello.yaml`), 'store and manifests kept');
  // The running container is the admin's: removing the tool does not stop it.
  assert.equal(await show('hello.service', 'MainPID,ActiveState'), before, 'hello.service was stopped or restarted by dpkg -r');
  assert.notEqual(await storeMounts(), '', 'its rootfs was unmounted');
  const removed = await ok(guest().exec(['dpkg-query', '-W', '-f', '${Status}', 'keel']), 'dpkg-query after -r');
  assert.equal(removed, 'deinstall ok config-files');
  await ok(sh('test -L /etc/systemd/system/multi-user.target.wants/keel.service'), 'enablement kept by dpkg -r');
});

it('dpkg --purge stops and unregisters the container, unmounts and deletes the store, keeps the manifests, forgets the enablement', async () => {
  const out = await ok(guest().exec(['dpkg', '--purge', 'keel'], { timeoutMs: 300_000 }), 'dpkg --purge');
  assert.match(out, /stopped and unregistered: hello$/m, out);
  assert.match(out, /kept \/etc\/keel/, out);
  for (const unit of ['hello.service', 'keel-pull-hello.service']) {
    const state = await show(unit, 'LoadState,ActiveState');
    assert.match(state, /ActiveState=inactive/, `${unit} after purge:\n${state}`);
    assert.match(state, /LoadState=not-found/, `${unit} still registered after purge:\n${state}`);
  }
  // systemd loads any slice name on demand: gone means no longer keel's transient slice.
  const slice = await show('keel-hello.slice', 'Transient,ActiveState');
  assert.match(slice, /ActiveState=inactive/, slice);
  assert.match(slice, /Transient=no/, slice);
  assert.equal(await storeMounts(), '', 'mounts left under the store');
  for (const dir of ['/run/keel', '/var/cache/keel']) {
    assert.notEqual((await guest().exec(['test', '-e', dir])).code, 0, `${dir} left after purge`);
  }
  // The store is a mount point of its own here: emptied, the directory itself stays.
  assert.equal((await sh('ls -A /var/lib/keel')).stdout, '', 'the store was not emptied');
  await ok(sh(`test -f ${MANIFESTS}/hello.yaml`), 'the admin\'s manifest kept by purge');
  assert.notEqual((await guest().exec(['test', '-e', '/etc/systemd/system/multi-user.target.wants/keel.service'])).code, 0, 'enablement left after purge');
  assert.notEqual((await guest().exec(['test', '-e', '/etc/systemd/system/keel.service'])).code, 0, 'keel.service left masked after purge');
  assert.notEqual((await guest().exec(['test', '-e', `${DSH_STATE}/keel.service.dsh-also`])).code, 0, 'deb-systemd-helper state left after purge');
  assert.equal((await guest().exec(['dpkg-query', '-W', '-f', '${Status}', 'keel'])).stdout, '', 'dpkg still knows keel');
});
