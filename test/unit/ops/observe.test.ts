// observeContainer: who owns a unit (keel or foreign, and why), keel's record
// and the two deployment slots as the planner sees them, against a small fake
// of SystemdClient's getUnitState and a real record dir and store root on
// disk (under /var/tmp: /tmp is slow here). propertiesDigest: stable, and
// sees every value, BigInt included.

import { strict as assert } from 'node:assert';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUNDLE_FORMAT, BUNDLE_RECORD, markDeploymentFailed, slotDir } from '../../../src/bundle/index.ts';
import { knownContainers, observeContainer, observeContainers, propertiesDigest, propertySettings, type ObserveContext } from '../../../src/ops/observe.ts';
import { writeAppliedRecord, type AppliedRecord } from '../../../src/runtime/index.ts';
import type { SystemdClient, UnitProperties, UnitState } from '../../../src/systemd/index.ts';

let base: string;
let recordDir: string;
let root: string;

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function record(name: string, extra: Partial<AppliedRecord> = {}): AppliedRecord {
  return {
    name, unit: `${name}.service`, image: `registry.example/${name}:1`, imageDigest: D1, inputsDigest: `sha256:${'i'.repeat(8)}`,
    bundleDir: `/var/lib/keel/containers/${name}/a`, slot: 'a', appliedAt: '2026-01-01T00:00:00.000Z', ...extra,
  };
}

/** A keel-bundle.json in `slot` of `name` (only what observe reads). */
async function slot(name: string, s: 'a' | 'b', imageDigest: string, inputsDigest: string): Promise<string> {
  const dir = slotDir(root, name, s);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, BUNDLE_RECORD), JSON.stringify({
    format: BUNDLE_FORMAT, keelVersion: 'test', name, inputsDigest, configDigest: D1,
    image: { name: `registry.example/${name}:1`, digest: imageDigest, diffIds: [], mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    spec: { name, unit: `${name}.service`, after: [], before: [], requires: ['etcd.service'], wants: [] },
    sharedRootfs: '/x', writable: false,
  }));
  return dir;
}

before(async () => {
  base = await mkdtemp('/var/tmp/keel-observe-');
  recordDir = path.join(base, 'units');
  root = path.join(base, 'store');
  await mkdir(root, { recursive: true });
  await writeAppliedRecord(record('mine', { unitDigest: 'sha256:u', unitSettings: { MemoryMax: '1073741824' }, pending: true }), recordDir);
  await writeAppliedRecord(record('gone'), recordDir);
  await writeAppliedRecord(record('masked'), recordDir);
  await writeAppliedRecord(record('renamed', { unit: 'other.service' }), recordDir);
  await writeAppliedRecord(record('tomb', { removed: true }), recordDir);
  // deployed: slot a was active before, b is active now and failed nothing; slot a is marked failed.
  await slot('deployed', 'a', D1, `sha256:${'a'.repeat(64)}`);
  await slot('deployed', 'b', D2, `sha256:${'b'.repeat(64)}`);
  await symlink('b', path.join(root, 'containers', 'deployed', 'active'));
  await markDeploymentFailed(slotDir(root, 'deployed', 'a'), { at: '2026-01-02T00:00:00.000Z', code: 'E_UNIT_FAILED', message: 'exited 1' });
  // single: only slot a, active.
  await slot('single', 'a', D1, `sha256:${'c'.repeat(64)}`);
  await symlink('a', path.join(root, 'containers', 'single', 'active'));
});

after(async () => {
  await rm(base, { recursive: true, force: true });
});

/** SystemdClient as observe uses it: getUnitState only; a name not listed is not-found. */
function fakeSystemd(units: Record<string, Partial<UnitState>>): { client: SystemdClient; asked: string[] } {
  const asked: string[] = [];
  const client = {
    async getUnitState(name: string): Promise<UnitState> {
      asked.push(name);
      const u = units[name] ?? { loadState: 'not-found', activeState: 'inactive', subState: 'dead' };
      return {
        name, loadState: 'loaded', activeState: 'inactive', subState: 'dead', result: undefined, mainPid: 0, execMainCode: undefined,
        execMainStatus: undefined, activeEnterTimestamp: undefined, inactiveEnterTimestamp: undefined, nRestarts: 0, fragmentPath: '',
        transient: false, description: '', controlGroup: '', requiredBy: [], wantedBy: [], before: [], hasJob: false, ...u,
      };
    },
  } as unknown as SystemdClient;
  return { client, asked };
}

const UNITS: Record<string, Partial<UnitState>> = {
  'mine.service': { transient: true, activeState: 'active', subState: 'running', mainPid: 4242, requiredBy: ['api.service'] },
  'etcd.service': { fragmentPath: '/lib/systemd/system/etcd.service', activeState: 'active', subState: 'running' },
  'generated.service': { loadState: 'loaded', fragmentPath: '' },
  'masked.service': { loadState: 'masked', fragmentPath: '/dev/null' },
  'other.service': { transient: true, activeState: 'active', subState: 'running' },
  'renamed.service': { transient: true },
  'tomb.service': { transient: true, activeState: 'inactive', subState: 'dead' },
};

function ctx(client?: SystemdClient): ObserveContext {
  return { store: { root, getRef: async () => undefined }, client, recordDir, runc: '/usr/sbin/runc' };
}

describe('observeContainer: ownership', () => {
  const CASES: Array<[string, string, 'keel' | 'foreign', string | undefined]> = [
    ['a unit systemd does not know (even with no record)', 'fresh', 'keel', undefined],
    ['a unit systemd does not know, with a record (after a reboot)', 'gone', 'keel', undefined],
    ["a transient unit with keel's applied record", 'mine', 'keel', undefined],
    ["a tombstone record (removed, unit kept loaded by another's reference)", 'tomb', 'keel', undefined],
    ['a unit file on this host', 'etcd', 'foreign', 'is a unit file on this host (/lib/systemd/system/etcd.service)'],
    ['a loaded unit with no fragment (generated)', 'generated', 'foreign', 'is a unit file on this host (loaded)'],
    ['a masked unit, even with a record of keel', 'masked', 'foreign', 'is masked'],
    ['a transient unit keel has no record of', 'other', 'foreign', 'is a transient unit keel did not create'],
    ['a transient unit whose record names another unit', 'renamed', 'foreign', 'is a transient unit keel did not create'],
  ];
  for (const [what, name, owner, reason] of CASES) {
    it(`${what}: ${owner}${reason ? ` (${reason})` : ''}`, async () => {
      const { client, asked } = fakeSystemd(UNITS);
      const o = await observeContainer(ctx(client), name);
      assert.deepEqual(asked, [`${name}.service`]);
      assert.equal(o.name, name);
      assert.equal(o.owner, owner);
      assert.equal(o.foreignReason, reason);
      if (reason === undefined) assert.ok(!('foreignReason' in o));
      assert.ok(Object.isFrozen(o));
    });
  }

  it("copies the unit's state and keel's record for the planner", async () => {
    const o = await observeContainer(ctx(fakeSystemd(UNITS).client), 'mine');
    assert.deepEqual(o.unit, { loadState: 'loaded', activeState: 'active', subState: 'running', mainPid: 4242, requiredBy: ['api.service'] });
    assert.deepEqual(o.applied, { inputsDigest: `sha256:${'i'.repeat(8)}`, unitDigest: 'sha256:u', unitSettings: { MemoryMax: '1073741824' }, pending: true });
    assert.equal(o.active, undefined);
    assert.equal(o.previous, undefined);
  });

  it('a name with nothing anywhere: keel, not-found, no record, no slots', async () => {
    const o = await observeContainer(ctx(fakeSystemd({}).client), 'fresh');
    assert.equal(o.unit?.loadState, 'not-found');
    assert.equal(o.applied, undefined);
    assert.equal(o.active, undefined);
  });

  it('without a client (dry run, no bus): keel, no unit facts, the record still read', async () => {
    const o = await observeContainer(ctx(), 'etcd');
    assert.equal(o.owner, 'keel');
    assert.equal(o.unit, undefined);
    const m = await observeContainer(ctx(), 'mine');
    assert.equal(m.applied?.pending, true);
  });
});

describe('observeContainer: deployments', () => {
  it('the active slot and the other one, with what the planner compares', async () => {
    const o = await observeContainer(ctx(fakeSystemd({ 'deployed.service': { transient: true } }).client), 'deployed');
    assert.equal(o.active?.slot, 'b');
    assert.equal(o.active?.imageDigest, D2);
    assert.equal(o.active?.inputsDigest, `sha256:${'b'.repeat(64)}`);
    assert.equal(o.active?.imageName, 'registry.example/deployed:1');
    assert.equal(o.active?.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(o.active?.spec?.['requires'], ['etcd.service']);
    assert.match(o.active?.renderedAt ?? '', /^\d{4}-\d\d-\d\dT/);
    assert.equal(o.active?.failed, undefined);
    assert.equal(o.previous?.slot, 'a');
    assert.equal(o.previous?.imageDigest, D1);
    assert.deepEqual(o.previous?.failed, { at: '2026-01-02T00:00:00.000Z', code: 'E_UNIT_FAILED', message: 'exited 1' });
    // A transient unit without a record is not keel's, slots or not.
    assert.equal(o.owner, 'foreign');
  });

  it('one slot only: no previous deployment', async () => {
    const o = await observeContainer(ctx(fakeSystemd({}).client), 'single');
    assert.equal(o.active?.slot, 'a');
    assert.equal(o.previous, undefined);
  });

  it('observeContainers: once per name, in a map', async () => {
    const { client, asked } = fakeSystemd(UNITS);
    const m = await observeContainers(ctx(client), ['mine', 'etcd', 'mine']);
    assert.deepEqual([...m.keys()], ['mine', 'etcd']);
    assert.deepEqual([...asked].sort(), ['etcd.service', 'mine.service'], 'each unit asked once (several at once, in any order)');
  });

  it('knownContainers: slot directories and live records, not tombstones', async () => {
    assert.deepEqual(await knownContainers(root, recordDir), ['deployed', 'gone', 'masked', 'mine', 'renamed', 'single']);
  });
});

describe('propertiesDigest', () => {
  const p = (value: unknown, name = 'MemoryMax', signature = 't'): UnitProperties => [{ name, signature, value }];

  it('is stable: equal properties (BigInt included), built anew, give the same digest', () => {
    const a = [...p(1n), { name: 'ExecStart', signature: 'a(sasb)', value: [['/usr/sbin/runc', ['runc', 'run'], false]] }];
    const b = [...p(1n), { name: 'ExecStart', signature: 'a(sasb)', value: [['/usr/sbin/runc', ['runc', 'run'], false]] }];
    assert.equal(propertiesDigest(a), propertiesDigest(b));
    assert.match(propertiesDigest(a), /^sha256:[0-9a-f]{64}$/);
  });

  const DIFFER: Array<[string, UnitProperties, UnitProperties]> = [
    ['another BigInt value', p(1n), p(2n)],
    ['a large BigInt beyond 2^53', p(9007199254740993n), p(9007199254740992n)],
    ['a BigInt and the same number', p(1n), p(1)],
    ['another signature', p(1n), p(1n, 'MemoryMax', 'u')],
    ['another name', p(1n), p(1n, 'MemoryHigh')],
    ['a nested value', p([['/a', ['a'], false]], 'ExecStart', 'a(sasb)'), p([['/a', ['a', '-x'], false]], 'ExecStart', 'a(sasb)')],
    ['one more property', p(1n), [...p(1n), { name: 'TasksMax', signature: 't', value: 64n }]],
  ];
  for (const [what, a, b] of DIFFER) {
    it(`sees ${what}`, () => assert.notEqual(propertiesDigest(a), propertiesDigest(b)));
  }

  it('propertySettings gives each value as JSON, BigInt as "Nn"', () => {
    assert.deepEqual(propertySettings([...p(1073741824n), { name: 'Delegate', signature: 'b', value: true }, { name: 'Slice', signature: 's', value: 'system.slice' }]), {
      MemoryMax: '"1073741824n"', Delegate: 'true', Slice: '"system.slice"',
    });
  });
});
