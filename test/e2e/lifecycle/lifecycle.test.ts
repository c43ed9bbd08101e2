// The days after the first: apply as a plan, update with a health gate and
// automatic rollback, manual rollback, remove in dependency order, and the
// failure modes of issue 8 (a notify container that dies at start, a
// container that exits, a failed unit stopped and applied again) — end to
// end, against a REAL systemd in a disposable guest (scripts/testhost), keel
// run inside it as a user runs it, images built by umoci and pushed by skopeo
// to a loopback registry, real runc. The tests share one guest and run in
// order; each builds on the previous. Needs what test/e2e/apply needs.

import { strict as assert } from 'node:assert';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { startRegistry, type Registry } from '../../helpers/registry.ts';
import { PROJECT, guestCommands, ok, tearDown } from '../../helpers/guest.ts';
import { bootTestHost, type TestHost } from '../../helpers/testhost.ts';
import { pushApp } from './images.ts';

const ROOT = '/var/lib/keel-lifecycle'; // inside the guest (its overlay)
const MANIFESTS = '/etc/keel/lifecycle.d';
const DATA = '/var/lib/app-data';

let host: TestHost;
let registry: Registry;
let work: string;
let appRef: string;
let baseRef: string;

const { keel, guest, show, mainPid: pid } = guestCommands(() => host, ['--root', ROOT, '--manifests', MANIFESTS]);

async function writeManifest(file: string, text: string): Promise<void> {
  await ok(host.exec(['sh', '-c', `mkdir -p ${MANIFESTS} && cat > ${MANIFESTS}/${file}`], { input: text }), `write ${file}`);
}

async function activeDigest(name: string): Promise<string> {
  const doc = JSON.parse(await ok(keel('status', '--json', name), `status ${name}`)) as { containers: Array<{ imageDigest: string }> };
  return doc.containers[0]?.imageDigest ?? '';
}

async function versionIn(name: string): Promise<string> {
  const r = await keel('exec', name, '--', 'cat', '/version');
  if (r.code !== 0) {
    // What the unit did is what a reader of a failure needs.
    const journal = (await guest('journalctl', '--no-pager', '-n', '60', '-u', `${name}.service`)).stdout;
    const state = (await guest('systemctl', 'show', '-pActiveState', '-pSubState', '-pNRestarts', '-pMainPID', `${name}.service`)).stdout;
    assert.fail(`exec ${name} cat /version failed (exit ${r.code}):\n${r.stderr}\n${state}\n${journal}`);
  }
  return r.stdout.trim();
}

// The app checks the markers of its image: /ok (else it exits 3 at start).
const appManifest = (): string => `
name: app
image: ${appRef}
command: [/bin/sh, -c, 'test -f /ok || { echo "no /ok in image $(cat /version)"; exit 3; }; echo "start $(cat /version)" >> /data/starts; trap "exit 0" TERM; sleep 1000 & wait']
mounts: [{ type: bind, source: ${DATA}, target: /data, readOnly: false, create: true }]
network: none
resources: { nofile: 1024 }
restart: { policy: on-failure, delaySec: 1 }
healthCheck: { command: [/bin/sh, -c, 'test -f /healthy'], interval: 1s, timeout: 5s, retries: 2 }
`;

const sleeper = (name: string, extra: string): string => `
name: ${name}
image: ${baseRef}
command: [/bin/sh, -c, 'trap "exit 0" TERM; sleep 1000 & wait']
network: none
resources: { nofile: 1024 }
${extra}`;

before(async () => {
  work = await mkdtemp('/var/tmp/keel-e2e-lifecycle-');
  registry = await startRegistry();
  appRef = await pushApp(work, registry.host, 'app', 'stable', { version: '1', ok: true, healthy: true });
  baseRef = await pushApp(work, registry.host, 'base', '1', { version: 'base', ok: true, healthy: true });
  host = await bootTestHost(`life-${process.pid}`, { binds: [PROJECT] });
  console.log(`# guest booted in ${host.bootMs} ms; registry ${registry.host}`);
});

after(() => tearDown({ host, registry, work }));

describe('apply is a plan', () => {
  it('--dry-run of three new containers plans three creates and creates nothing, not even the store', async () => {
    await writeManifest('app.yaml', appManifest());
    await writeManifest('client.yaml', sleeper('client', 'requires: [app]\nafter: [app]\n'));
    await writeManifest('watcher.yaml', sleeper('watcher', 'after: [app]\n'));
    const r = await ok(keel('apply', '--dry-run'), 'dry run');
    assert.match(r, /^ {2}\+ app\.service +create +new; pull \S+\/app:stable \(not in the store\)$/m);
    assert.match(r, /^ {2}\+ client\.service +create/m);
    assert.match(r, /^3 to create$/m);
    // app comes first: client and watcher are ordered after it.
    assert.ok(r.indexOf('app.service') < r.indexOf('client.service') && r.indexOf('app.service') < r.indexOf('watcher.service'), r);
    assert.notEqual((await guest('test', '-e', ROOT)).code, 0, 'a dry run created the store');
    assert.equal((await show('app.service', 'LoadState')).LoadState, 'not-found');
    const json = JSON.parse(await ok(keel('apply', '--dry-run', '--json'), 'dry run --json')) as { version: number; actions: Array<{ name: string; action: string }> };
    assert.equal(json.version, 1);
    assert.deepEqual(json.actions.map((a) => `${a.name}:${a.action}`), ['app:create', 'client:create', 'watcher:create']);
  });

  it('apply creates all three; applying again, even twice at once, restarts nothing', async () => {
    const r = await ok(keel('apply'), 'apply');
    for (const n of ['app', 'client', 'watcher']) assert.match(r, new RegExp(`^${n}\\.service created \\(active, pid \\d+, slot a`, 'm'));
    const pids = await Promise.all(['app', 'client', 'watcher'].map((n) => pid(`${n}.service`)));
    const again = await ok(keel('apply'), 'apply again');
    assert.match(again, /app\.service unchanged/);
    const [a, b] = await Promise.all([keel('apply'), keel('apply')]);
    for (const x of [a, b]) {
      assert.equal(x.code, 0, x.stderr);
      assert.doesNotMatch(x.stdout, /restarted|created/, x.stdout);
    }
    assert.deepEqual(await Promise.all(['app', 'client', 'watcher'].map((n) => pid(`${n}.service`))), pids);
  });

  it('--dry-run --prune shows a change (with the input that changed), a removal and what stays, and changes nothing', async () => {
    const pids = await Promise.all(['app', 'client'].map((n) => pid(`${n}.service`)));
    await writeManifest('client.yaml', sleeper('client', 'requires: [app]\nafter: [app]\nenv: { MODE: "two" }\n'));
    await ok(guest('mv', `${MANIFESTS}/watcher.yaml`, '/var/tmp/watcher.yaml'), 'move watcher.yaml away');
    const r = await ok(keel('apply', '--dry-run', '--prune'), 'dry run --prune');
    assert.match(r, /^ {2}- watcher\.service +remove +no manifest names it \(--prune\)$/m);
    assert.match(r, /^ {2}~ client\.service +restart +changed: env$/m);
    assert.match(r, /^ {2}= app\.service +keep +unchanged$/m);
    assert.match(r, /^1 to change, 1 to remove, 1 unchanged$/m);
    assert.deepEqual(await Promise.all(['app', 'client'].map((n) => pid(`${n}.service`))), pids);
    assert.equal((await show('watcher.service', 'ActiveState')).ActiveState, 'active');
    // Without --prune, a container whose manifest is gone is left alone.
    assert.doesNotMatch(await ok(keel('apply', '--dry-run'), 'dry run'), /watcher/);
    const real = await ok(keel('apply', '--prune'), 'apply --prune');
    assert.match(real, /^watcher\.service removed$/m);
    assert.match(real, /^client\.service restarted/m);
    assert.equal((await show('watcher.service', 'LoadState')).LoadState, 'not-found');
    assert.equal(await pid('app.service'), pids[0]);
    assert.notEqual(await pid('client.service'), pids[1]);
    await ok(guest('mv', '/var/tmp/watcher.yaml', `${MANIFESTS}/watcher.yaml`), 'watcher.yaml back');
    assert.match(await ok(keel('apply'), 'apply watcher again'), /watcher\.service created/);
  });
});

describe('update and rollback', () => {
  let v1 = '';
  let v2 = '';

  it('update with nothing newer restarts nothing and says so', async () => {
    v1 = await activeDigest('app');
    const before = await pid('app.service');
    const r = await keel('update', 'app');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /nothing newer; nothing restarted/);
    assert.match(r.stdout, /app\.service unchanged/);
    assert.equal(await pid('app.service'), before);
  });

  it('update --dry-run lists the old and the new digest and changes nothing', async () => {
    await pushApp(work, registry.host, 'app', 'stable', { version: '2', ok: true, healthy: true });
    const before = await pid('app.service');
    const r = await ok(keel('update', '--dry-run', 'app'), 'update --dry-run');
    assert.match(r, new RegExp(`^ {2}~ app\\.service +update +image ${v1.slice(7, 19)} -> [0-9a-f]{12}; then restart client, watcher$`, 'm'));
    assert.equal(await pid('app.service'), before);
    assert.equal(await activeDigest('app'), v1);
  });

  it('update to a good image: the new image runs, dependents are restarted, the bind-mounted data is kept', async () => {
    const [client, watcher] = await Promise.all([pid('client.service'), pid('watcher.service')]);
    const r = await keel('update', '--window', '2', 'app');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^app\.service updated; restarted client, watcher \(active, pid \d+, slot b\)$/m);
    v2 = await activeDigest('app');
    assert.notEqual(v2, v1);
    assert.equal(await versionIn('app'), '2');
    assert.notEqual(await pid('client.service'), client);
    assert.notEqual(await pid('watcher.service'), watcher, 'watcher (after: app, no requires) was not restarted');
    for (const n of ['client', 'watcher']) assert.equal((await show(`${n}.service`, 'ActiveState')).ActiveState, 'active');
    assert.equal((await ok(guest('cat', `${DATA}/starts`), 'data')).trim(), 'start 1\nstart 2');
  });

  it('keel rollback switches back to the previous deployment and restarts the dependents; again switches forward', async () => {
    const client = await pid('client.service');
    const r = await ok(keel('rollback', 'app'), 'rollback');
    assert.match(r, /^app\.service rolled back to slot a; restarted client, watcher/m);
    assert.equal(await activeDigest('app'), v1);
    assert.equal(await versionIn('app'), '1');
    assert.notEqual(await pid('client.service'), client);
    const status = JSON.parse(await ok(keel('status', '--json', 'app'), 'status')) as { containers: Array<{ deployments: Array<{ slot: string; active: boolean; imageDigest: string }> }> };
    assert.deepEqual(status.containers[0]?.deployments.map((d) => [d.slot, d.active, d.imageDigest]), [['a', true, v1], ['b', false, v2]]);
    await ok(keel('rollback', 'app'), 'rollback forward');
    assert.equal(await versionIn('app'), '2');
  });

  it('update to an image whose command fails is rolled back by itself, non-zero, with the reason in the journal', async () => {
    await pushApp(work, registry.host, 'app', 'stable', { version: '3', ok: false, healthy: true });
    const r = await keel('update', '--window', '2', 'app');
    assert.equal(r.code, 69, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /failed its health gate, so keel switched back to slot b/);
    assert.match(r.stderr, /\[E_UPDATE_ROLLED_BACK\]/);
    assert.match(r.stderr, /no \/ok in image 3/, 'the journal lines of the failed start are in the message');
    assert.equal(await activeDigest('app'), v2);
    assert.equal(await versionIn('app'), '2');
    for (const n of ['app', 'client', 'watcher']) assert.equal((await show(`${n}.service`, 'ActiveState')).ActiveState, 'active', n);
    const journal = await ok(guest('journalctl', '--no-pager', '-t', 'keel'), 'journal');
    assert.match(journal, /app\.service: update failed its health gate and was rolled back to slot b \[E_UPDATE_ROLLED_BACK\]/);
  });

  it('update to an image that starts but fails its health check is rolled back too', async () => {
    await pushApp(work, registry.host, 'app', 'stable', { version: '4', ok: true, healthy: false });
    const r = await keel('update', '--window', '1', 'app');
    assert.equal(r.code, 69, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /E_HEALTH_CHECK_FAILED/);
    if (/did not start either/.test(r.stderr)) {
      const journal = (await guest('journalctl', '--no-pager', '-n', '80', '-u', 'app.service')).stdout;
      assert.fail(`${r.stderr}\n${journal}`);
    }
    assert.equal(await versionIn('app'), '2', r.stderr);
    // The failed deployment is marked: keel rollback will not switch to it.
    const back = await keel('rollback', 'app');
    assert.equal(back.code, 66, back.stderr);
    assert.match(back.stderr, /failed its health gate .*\[E_ROLLBACK_UNAVAILABLE\]/);
    assert.match(await ok(keel('status', 'app'), 'status app'), /failed its health gate \[E_HEALTH_CHECK_FAILED\]/);
  });
});

describe('failures are reported at once, and units stay startable', () => {
  it('a notify container whose process dies at start is reported with its exit status, not a timeout', async () => {
    await writeManifest('dies.yaml', sleeper('dies', 'notify: true\nrestart: { policy: "no" }\n').replace(/command: .*/, "command: [/bin/sh, -c, 'echo dying; exit 7']"));
    const r = await keel('apply', `${MANIFESTS}/dies.yaml`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /status 7|execMainStatus=7/, r.stderr);
    assert.doesNotMatch(r.stderr, /E_UNIT_TIMEOUT/);
    assert.match(r.stderr, /dying/, 'the journal lines are in the message');
    assert.equal((await show('dies.service', 'ActiveState')).ActiveState, 'failed');
    await ok(keel('remove', '--delete-manifest', 'dies'), 'remove dies');
  });

  it('a container whose command exits stays registered and startable, and is removed cleanly', async () => {
    await writeManifest('once.yaml', sleeper('once', 'restart: { policy: "no" }\n').replace(/command: .*/, "command: [/bin/sh, -c, 'echo ran once']"));
    await ok(keel('apply', `${MANIFESTS}/once.yaml`), 'apply once');
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await show('once.service', 'LoadState')).LoadState, 'loaded');
    await ok(guest('systemctl', 'start', 'once.service'), 'systemctl start once after it exited');
    const r = await ok(keel('remove', '--delete-manifest', 'once'), 'remove once');
    assert.match(r, /^once\.service removed$/m);
    assert.match((await keel('remove', 'once')).stderr, /E_CONTAINER_NOT_FOUND/);
    assert.equal((await show('once.service', 'LoadState')).LoadState, 'not-found');
  });

  it('a failed unit, stopped, starts again on the next apply', async () => {
    await writeManifest('flag.yaml', sleeper('flag', 'restart: { policy: "no" }\nmounts: [{ type: bind, source: /var/lib/flag, target: /flag, create: true }]\n')
      .replace(/command: .*/, `command: [/bin/sh, -c, 'test -f /flag/go || exit 4; trap "exit 0" TERM; sleep 1000 & wait']`));
    const first = await keel('apply', `${MANIFESTS}/flag.yaml`);
    assert.notEqual(first.code, 0);
    assert.equal((await show('flag.service', 'ActiveState')).ActiveState, 'failed');
    await ok(guest('systemctl', 'stop', 'flag.service'), 'stop the failed unit');
    await ok(guest('touch', '/var/lib/flag/go'), 'fix the cause');
    const r = await ok(keel('apply', `${MANIFESTS}/flag.yaml`), 'apply again');
    assert.match(r, /^flag\.service started \(active/m);
  });
});

describe('names keel did not create', () => {
  it('logs, exec, status and remove say "no such system container" with one code for a unit keel did not create', async () => {
    for (const args of [['logs', 'ghost'], ['logs', 'dbus'], ['exec', 'dbus', '--', 'true'], ['status', 'ghost'], ['remove', 'ghost'], ['rollback', 'ghost']]) {
      const r = await keel(...args);
      assert.equal(r.code, 66, `keel ${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /\[E_CONTAINER_NOT_FOUND\]/, `keel ${args.join(' ')}`);
    }
  });
});

describe('exec', () => {
  it('a command that cannot start is E_EXEC_FAILED with the reason; one that ran exits with its own status', async () => {
    const missing = await keel('exec', 'app', '--', '/no/such/binary');
    assert.equal(missing.code, 69, missing.stderr);
    assert.match(missing.stderr, /cannot run "\/no\/such\/binary" in app: .*no such file or directory.*\[E_EXEC_FAILED\]/);
    assert.doesNotMatch(missing.stderr, /level=error/, 'runc\'s raw log line reached the user');
    const ran = await keel('exec', 'app', '--', 'sh', '-c', 'echo to-stderr >&2; exit 5');
    assert.equal(ran.code, 5);
    assert.match(ran.stderr, /to-stderr/);
  });
});

describe('remove', () => {
  it('refuses to remove a container that another still requires, and changes nothing', async () => {
    const before = await pid('app.service');
    const r = await keel('remove', 'app');
    assert.equal(r.code, 64, r.stderr);
    assert.match(r.stderr, /client\.service requires app\.service.*\[E_CONTAINER_REQUIRED\]/);
    assert.equal(await pid('app.service'), before);
  });

  it('removes dependent containers in dependency order whatever order they are named in, and says which manifests would bring them back', async () => {
    for (const order of [['app', 'client', 'watcher', 'flag'], ['watcher', 'client', 'app']]) {
      if (order[0] === 'watcher') await ok(keel('apply'), 'apply again');
      const r = await keel('remove', ...order);
      assert.equal(r.code, 0, `remove ${order.join(' ')}: ${r.stdout}\n${r.stderr}`);
      const lines = r.stdout.trim().split('\n').filter((l) => l.endsWith(' removed'));
      const removed = lines.map((l) => l.split('.')[0]).filter((n) => n !== 'flag');
      assert.equal(removed.length, 3, r.stdout);
      assert.equal(removed[2], 'app', `app (which the others require or follow) must go last:\n${r.stdout}`);
      for (const n of order) assert.equal((await show(`${n}.service`, 'LoadState')).LoadState, 'not-found', n);
      assert.match(r.stderr, new RegExp(`app is still described by ${MANIFESTS}/app\\.yaml: the next boot or keel apply brings it back`));
    }
    await ok(guest('test', '-f', `${DATA}/starts`), 'host data kept');
  });

  it('--delete-manifest deletes the manifest of the removed container', async () => {
    await ok(keel('apply', ...['app', 'client', 'watcher'].map((n) => `${MANIFESTS}/${n}.yaml`)), 'apply app, client, watcher');
    const r = await ok(keel('remove', '--delete-manifest', 'app', 'client', 'watcher'), 'remove --delete-manifest');
    assert.match(r, new RegExp(`deleted manifest ${MANIFESTS}/app\\.yaml`));
    assert.notEqual((await guest('test', '-e', `${MANIFESTS}/app.yaml`)).code, 0);
  });
});
