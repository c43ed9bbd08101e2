// ownedUnit and unregister against a small fake of SystemdClient's state calls.

import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isKeelError } from '../../../src/errors.ts';
import { ownedUnit, propertiesDigest } from '../../../src/ops/container-units.ts';
import { writeAppliedRecord } from '../../../src/runtime/index.ts';
import type { SystemdClient, UnitState } from '../../../src/systemd/index.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp('/var/tmp/keel-owned-');
  await writeAppliedRecord({
    name: 'mine', unit: 'mine.service', image: 'i', imageDigest: 'd', inputsDigest: 'x', bundleDir: '/b', slot: 'a', appliedAt: 't',
  }, dir);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function fake(units: Record<string, Partial<UnitState>>): SystemdClient {
  return {
    async getUnitState(name: string): Promise<UnitState> {
      const u = units[name] ?? { loadState: 'not-found', transient: false };
      return { name, loadState: 'loaded', activeState: 'inactive', subState: 'dead', result: undefined, mainPid: 0, execMainCode: undefined,
        execMainStatus: undefined, activeEnterTimestamp: undefined, inactiveEnterTimestamp: undefined, nRestarts: 0, fragmentPath: '',
        transient: false, description: '', controlGroup: '', ...u } as UnitState;
    },
  } as unknown as SystemdClient;
}

describe('ownedUnit', () => {
  it('accepts a name systemd does not know, and a transient unit keel recorded', async () => {
    const c = fake({ 'mine.service': { transient: true, activeState: 'active' } });
    assert.equal((await ownedUnit(c, 'new', 'new.service', dir)).state.loadState, 'not-found');
    assert.equal((await ownedUnit(c, 'mine', 'mine.service', dir)).record?.inputsDigest, 'x');
  });

  it('refuses a host unit file, a masked unit, and a transient unit keel has no record of', async () => {
    const c = fake({
      'etcd.service': { fragmentPath: '/lib/systemd/system/etcd.service' },
      'masked.service': { loadState: 'masked' },
      'other.service': { transient: true },
    });
    for (const [name, re] of [['etcd', /unit file on this host \(\/lib\/systemd\/system\/etcd\.service\)/], ['masked', /is masked/], ['other', /transient unit keel did not create/]] as const) {
      await assert.rejects(ownedUnit(c, name, `${name}.service`, dir), (err) => isKeelError(err, 'E_UNIT_EXISTS') && re.test(err.message));
    }
  });
});

it('propertiesDigest is stable and sees every value, BigInt included', () => {
  const a = [{ name: 'MemoryMax', signature: 't', value: 1n }];
  assert.equal(propertiesDigest(a), propertiesDigest([{ name: 'MemoryMax', signature: 't', value: 1n }]));
  assert.notEqual(propertiesDigest(a), propertiesDigest([{ name: 'MemoryMax', signature: 't', value: 2n }]));
});
