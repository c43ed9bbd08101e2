// SystemdClient against a real systemd: one disposable guest (scripts/testhost)
// for the whole file, driven from the host over the guest's bus socket and,
// once, from inside the guest with the project's own node. Needs root,
// systemd-container, runc and a static busybox (busybox-static).
// The last test kills the guest mid-call; keep it last.

import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { isKeelError } from '../../../src/errors.ts';
import {
  SystemdClient,
  keepAliveSliceName,
  renderKeepAliveProperties,
  renderServiceProperties,
  type ServiceSettings,
} from '../../../src/systemd/index.ts';
import { installBusybox } from '../../helpers/busybox-image.ts';
import { PROJECT, tearDown } from '../../helpers/guest.ts';
import { bootTestHost, type TestHost } from '../../helpers/testhost.ts';

const NODE = join(PROJECT, 'node_modules/.bin/node');
const PREFIX = `keel-e2e-${process.pid}`;

let host: TestHost;
let client: SystemdClient;
let work: string;

function unit(stem: string): string {
  return `${PREFIX}-${stem}.service`;
}

function service(description: string, execStart: string[], more: Partial<ServiceSettings> = {}): ReturnType<typeof renderServiceProperties> {
  return renderServiceProperties({ description, execStart, ...more });
}

async function guest(cmd: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return host.exec(cmd);
}

/** A runc bundle whose payload prints, then waits for SIGTERM and exits 0. */
async function makeBundle(dir: string): Promise<void> {
  for (const d of ['proc', 'sys', 'dev', 'tmp']) await mkdir(join(dir, 'rootfs', d), { recursive: true });
  await installBusybox(join(dir, 'rootfs'), ['sh', 'sleep']);
  await promisify(execFile)('runc', ['spec'], { cwd: dir });
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  config.process.terminal = false;
  config.process.args = ['/bin/sh', '-c', 'trap "echo payload got TERM; exit 0" TERM; echo payload up; sleep 1000 & wait'];
  delete config.linux.resources;
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 1));
}

before(async () => {
  work = await mkdtemp('/var/tmp/keel-e2e-systemd-');
  await makeBundle(join(work, 'bundle'));
  host = await bootTestHost(`sysd-${process.pid}`, { binds: [PROJECT, work] });
  console.log(`# guest booted in ${host.bootMs} ms; PID 1 = ${host.pid}`);
  client = await SystemdClient.connect({ address: host.busAddress, callTimeoutMs: 10_000, jobTimeoutMs: 30_000 });
});

after(async () => {
  await client?.close();
  await tearDown({ host, work });
});

describe('SystemdClient against a real systemd', () => {
  const sleeper = unit('sleep');

  it('starts a transient service: job done, active, with a main pid', async () => {
    const outcome = await client.startTransientUnit(
      sleeper,
      service('keel e2e sleeper', ['/bin/sleep', '1000'], {
        syslogIdentifier: `${PREFIX}-sleep`,
        memoryMax: 64 * 1024 * 1024,
        tasksMax: 16,
        cpuWeight: 50,
        restart: 'on-failure',
        restartDelayMs: 250,
        stopTimeout: 5000,
        limitNofile: 4096,
        successExitStatus: [143],
        killSignal: 'SIGINT',
        environment: { KEEL_E2E: 'yes' },
        after: ['network.target'],
      }),
    );
    console.log(`# StartTransientUnit to JobRemoved: ${outcome.elapsedMs} ms`);
    assert.equal(outcome.jobResult, 'done');
    assert.equal(outcome.state?.activeState, 'active');
    assert.equal(outcome.state?.subState, 'running');
    assert.ok((outcome.state?.mainPid ?? 0) > 0);
    assert.equal(outcome.state?.transient, true);
    assert.ok(outcome.state?.activeEnterTimestamp instanceof Date);
  });

  it('shows in systemctl status', async () => {
    const r = await guest(['systemctl', 'status', '--no-pager', sleeper]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Active: active \(running\)/);
    assert.match(r.stdout, /\/bin\/sleep 1000/);
    assert.match(r.stdout, /Transient: yes/);
  });

  it('puts the limits on the unit (systemctl show)', async () => {
    const props = 'MemoryMax,TasksMax,CPUWeight,RestartUSec,TimeoutStopUSec,Restart,LimitNOFILE,LimitNOFILESoft,SuccessExitStatus,KillSignal,Environment,SyslogIdentifier,After';
    const r = await guest(['systemctl', 'show', '-p', props, sleeper]);
    assert.equal(r.code, 0, r.stderr);
    const shown = Object.fromEntries(
      r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
    );
    assert.match(shown['After'] ?? '', /\bnetwork\.target\b/);
    delete shown['After'];
    assert.deepEqual(shown, {
      MemoryMax: String(64 * 1024 * 1024),
      TasksMax: '16',
      CPUWeight: '50',
      RestartUSec: '250ms',
      TimeoutStopUSec: '5s',
      Restart: 'on-failure',
      LimitNOFILE: '4096',
      LimitNOFILESoft: '4096',
      SuccessExitStatus: '143',
      KillSignal: '2',
      Environment: 'KEEL_E2E=yes',
      SyslogIdentifier: `${PREFIX}-sleep`,
    });
  });

  it('tells a host unit from a transient one, and refuses to create over an existing unit', async () => {
    assert.equal(await client.unitExists('dbus.service'), true);
    assert.equal(await client.isTransient('dbus.service'), false);
    assert.equal(await client.isTransient(sleeper), true);
    assert.equal(await client.unitExists(unit('never-made')), false);
    await assert.rejects(client.startTransientUnit(sleeper, service('again', ['/bin/true'])), { code: 'E_UNIT_EXISTS' });
    await assert.rejects(client.startTransientUnit('dbus.service', service('hijack', ['/bin/true'])), { code: 'E_UNIT_EXISTS' });
  });

  it('maps a failing ExecStart (oneshot /bin/false) to E_UNIT_FAILED with the result', async () => {
    const name = unit('false');
    await assert.rejects(client.startTransientUnit(name, service('fails', ['/bin/false'], { type: 'oneshot' })), (err: unknown) => {
      assert.ok(isKeelError(err, 'E_UNIT_FAILED'), String(err));
      assert.equal(err.detail['jobResult'], 'failed');
      assert.equal(err.detail['activeState'], 'failed');
      assert.equal(err.detail['result'], 'exit-code');
      assert.equal(err.detail['execMainStatus'], 1);
      return true;
    });
    await client.resetFailedUnit(name);
  });

  it('maps a nonexistent binary (Type=exec) to E_UNIT_FAILED', async () => {
    const name = unit('nobinary');
    await assert.rejects(client.startTransientUnit(name, service('no binary', ['/nonexistent/keel-binary'], { type: 'exec' })), (err: unknown) => {
      assert.ok(isKeelError(err, 'E_UNIT_FAILED'), String(err));
      assert.equal(err.detail['result'], 'exit-code');
      assert.equal(err.detail['execMainStatus'], 203); // EXIT_EXEC
      return true;
    });
    await client.resetFailedUnit(name);
  });

  it('maps a start timeout to E_UNIT_TIMEOUT', async () => {
    const name = unit('slowstart');
    await assert.rejects(
      client.startTransientUnit(name, service('never ready', ['/bin/sleep', '1000'], { type: 'notify', startTimeout: 500 })),
      (err: unknown) => {
        assert.ok(isKeelError(err, 'E_UNIT_TIMEOUT'), String(err));
        assert.equal(err.detail['jobResult'], 'failed');
        assert.equal(err.detail['result'], 'timeout');
        return true;
      },
    );
    await client.resetFailedUnit(name);
  });

  it('reports a property systemd 252 refuses for transient units (JobTimeoutUSec) as E_SYSTEMD_REFUSED', async () => {
    const props = [...service('refused', ['/bin/true']), { name: 'JobTimeoutUSec', signature: 't', value: 1_000_000n }];
    await assert.rejects(client.startTransientUnit(unit('refused'), props), (err: unknown) => {
      assert.ok(isKeelError(err, 'E_SYSTEMD_REFUSED'), String(err));
      assert.equal(err.detail['dbusError'], 'org.freedesktop.DBus.Error.PropertyReadOnly');
      return true;
    });
    assert.equal(await client.unitExists(unit('refused')), false);
  });

  it('maps a failed requirement to E_UNIT_DEPENDENCY', async () => {
    const dep = unit('depfail');
    const name = unit('needsdep');
    await assert.rejects(client.startTransientUnit(dep, service('fails', ['/bin/false'], { type: 'oneshot' })), { code: 'E_UNIT_FAILED' });
    await assert.rejects(
      client.startTransientUnit(name, service('needs a failing unit', ['/bin/sleep', '1000'], { requires: [dep], after: [dep] })),
      (err: unknown) => {
        assert.ok(isKeelError(err, 'E_UNIT_DEPENDENCY'), String(err));
        assert.equal(err.detail['jobResult'], 'dependency');
        return true;
      },
    );
    await client.resetFailedUnit(dep).catch(() => undefined);
  });

  it('stops a unit; a stopped transient unit without keep-alive is gone', async () => {
    const outcome = await client.stopUnit(sleeper);
    assert.equal(outcome.jobResult, 'done');
    assert.equal(outcome.state?.activeState, 'inactive');
    const r = await guest(['systemctl', 'start', sleeper]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not found/);
    await assert.rejects(client.stopUnit(sleeper), { code: 'E_UNIT_NOT_FOUND' });
  });

  it('keeps a stopped transient unit startable with the keep-alive slice', async () => {
    const name = unit('kept');
    await client.startTransientUnit(name, service('kept alive', ['/bin/sleep', '1000']));
    const slice = keepAliveSliceName(name);
    const sliced = await client.startTransientUnit(slice, renderKeepAliveProperties(name));
    assert.equal(sliced.state?.activeState, 'active');
    await client.stopUnit(name);
    assert.equal((await client.getUnitState(name)).loadState, 'loaded');
    const r = await guest(['systemctl', 'start', name]);
    assert.equal(r.code, 0, r.stderr);
    const state = await client.getUnitState(name);
    assert.equal(state.activeState, 'active');
    assert.ok(state.mainPid > 0);
    const restarted = await client.restartUnit(name);
    assert.notEqual(restarted.state?.mainPid, state.mainPid);
    // removal: stop the slice, then the service; both are collected
    await client.stopUnit(slice);
    await client.stopUnit(name);
    assert.equal(await client.unitExists(name), false);
  });

  it('runs runc inside the unit cgroup (cgroupfs driver, Delegate=yes) and stops cleanly', async () => {
    const name = unit('runc');
    const id = `${PREFIX}-runc`;
    const bundle = join(work, 'bundle');
    const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8'));
    config.linux.cgroupsPath = `/system.slice/${name}/container`;
    await writeFile(join(bundle, 'config.json'), JSON.stringify(config, null, 1));
    const outcome = await client.startTransientUnit(
      name,
      service('runc in unit cgroup', ['/usr/sbin/runc', 'run', '--bundle', bundle, id], {
        delegate: true,
        killMode: 'mixed',
        successExitStatus: [143],
        syslogIdentifier: id,
        memoryMax: 128 * 1024 * 1024,
        tasksMax: 32,
      }),
    );
    const mainPid = outcome.state?.mainPid ?? 0;
    let procs = '';
    for (let i = 0; i < 50 && procs.trim() === ''; i++) {
      procs = (await guest(['cat', `/sys/fs/cgroup/system.slice/${name}/container/cgroup.procs`])).stdout;
      if (procs.trim() === '') await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(procs.trim().split('\n').length >= 1 && procs.trim() !== '', 'container processes are in NAME.service/container');
    const top = (await guest(['cat', `/sys/fs/cgroup/system.slice/${name}/cgroup.procs`])).stdout.trim().split('\n');
    assert.ok(top.includes(String(mainPid)), `runc (main pid, in the guest's pid namespace) is in the unit cgroup: ${top}`);
    const cgls = await guest(['systemd-cgls', '--no-pager', '-u', name]);
    assert.match(cgls.stdout, /container/);
    assert.match(cgls.stdout, /sleep 1000/);
    const stopped = await client.stopUnit(name);
    assert.equal(stopped.state?.activeState, 'inactive');
    assert.equal(stopped.state?.result, 'success');
    const journal = await guest(['journalctl', '--no-pager', '-u', name]);
    assert.match(journal.stdout, /payload up/);
    assert.match(journal.stdout, /payload got TERM/);
    const list = await guest(['runc', 'list', '-q']);
    assert.doesNotMatch(list.stdout, new RegExp(id));
  });

  it('works from inside the guest with the project node and the default system bus', async () => {
    const name = unit('inside');
    const script = `
      import { SystemdClient, renderServiceProperties } from ${JSON.stringify(join(PROJECT, 'src/systemd/index.ts'))};
      const c = await SystemdClient.connect({ callTimeoutMs: 5000 });
      const o = await c.startTransientUnit(${JSON.stringify(name)}, renderServiceProperties({ description: 'inside', execStart: ['/bin/sleep', '1000'] }));
      const s = await c.stopUnit(${JSON.stringify(name)});
      console.log(JSON.stringify({ start: o.state.activeState, pid: o.state.mainPid, stop: s.state?.activeState, ms: o.elapsedMs }));
      await c.close();`;
    const r = await guest([NODE, '--input-type=module', '-e', script]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim());
    console.log(`# inside the guest: ${r.stdout.trim()}`);
    assert.equal(result.start, 'active');
    assert.ok(result.pid > 0);
    assert.equal(result.stop, 'inactive');
  });

  it('gives E_SYSTEMD_UNAVAILABLE for an absent bus', async () => {
    await assert.rejects(SystemdClient.connect({ address: `unix:path=${work}/no-bus-here`, callTimeoutMs: 2000 }), {
      code: 'E_SYSTEMD_UNAVAILABLE',
    });
  });

  it('gives E_SYSTEMD_UNAVAILABLE, without hanging, when the guest dies mid-call (last test)', async () => {
    const name = unit('midcall');
    // A oneshot that takes 60 s: the start job stays pending while the guest dies.
    const pending = client.startTransientUnit(name, service('long job', ['/bin/sleep', '60'], { type: 'oneshot' }));
    const settled = pending.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = performance.now();
    process.kill(host.pid, 'SIGKILL'); // the guest's PID 1: the whole guest and its bus go away
    const err = await settled;
    const ms = Math.round(performance.now() - killedAt);
    console.log(`# mid-call failure reported ${ms} ms after the kill`);
    assert.ok(isKeelError(err, 'E_SYSTEMD_UNAVAILABLE'), String(err));
    assert.ok(ms < 5000);
    await assert.rejects(client.getUnitState(name), { code: 'E_SYSTEMD_UNAVAILABLE' });
    await assert.rejects(SystemdClient.connect({ address: host.busAddress, callTimeoutMs: 2000 }), { code: 'E_SYSTEMD_UNAVAILABLE' });
  });
});
