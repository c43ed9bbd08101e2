import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { currentBootId } from '../../../src/layout/owner.ts';
import { stagingPath } from '../../../src/layout/staging.ts';
import {
  listAppliedRecords, readAppliedRecord, removeAppliedRecord, writeAppliedRecord, type AppliedRecord,
} from '../../../src/runtime/index.ts';

let dir: string;
before(async () => {
  dir = join(await mkdtemp('/var/tmp/keel-records-'), 'units');
});
after(async () => {
  await rm(join(dir, '..'), { recursive: true, force: true });
});

const record = (name: string): AppliedRecord => ({
  name, unit: `${name}.service`, image: 'x/y:1', imageDigest: `sha256:${'a'.repeat(64)}`, inputsDigest: `sha256:${'b'.repeat(64)}`,
  bundleDir: `/k/containers/${name}/a`, slot: 'a', appliedAt: '2026-01-01T00:00:00.000Z', unitDigest: 'sha256:c', pending: false,
});

it('writes, reads, lists and removes records; a missing directory lists nothing', async () => {
  assert.deepEqual(await listAppliedRecords(dir), []);
  assert.equal(await readAppliedRecord('etcd', dir), undefined);
  await writeAppliedRecord(record('etcd'), dir);
  await writeAppliedRecord(record('flannel'), dir);
  assert.deepEqual(await readAppliedRecord('etcd', dir), record('etcd'));
  assert.deepEqual((await listAppliedRecords(dir)).map((r) => r.name), ['etcd', 'flannel']);
  await removeAppliedRecord('etcd', dir);
  await removeAppliedRecord('etcd', dir);
  assert.deepEqual((await listAppliedRecords(dir)).map((r) => r.name), ['flannel']);
});

it('a torn or foreign file reads as no record', async () => {
  await writeFile(join(dir, 'torn.json'), '{"name": "torn", ');
  assert.equal(await readAppliedRecord('torn', dir), undefined);
  await writeFile(join(dir, 'other.json'), '{"name": "other"}');
  assert.equal(await readAppliedRecord('other', dir), undefined);
});

it('a write stages under an owner-named temp file: a dead writer\'s is reclaimed by the next write, a live one\'s kept', async () => {
  const gone = spawnSync('/bin/true').pid;
  const boot8 = currentBootId().replace(/-/g, '').slice(0, 8);
  const dead = `.${gone}-777-${boot8}.1.record`; // a writer killed between its write and its rename
  const live = stagingPath(dir, 'record'); // this process, mid-write
  await writeFile(join(dir, dead), '{"name": "torn", ');
  await writeFile(live, '{"name": "etcd", ');
  await writeAppliedRecord(record('etcd'), dir);
  const names = await readdir(dir);
  assert.ok(!names.includes(dead), `the dead writer's temp file is gone: ${names.join(' ')}`);
  assert.ok(names.includes(live.slice(dir.length + 1)), 'a live writer\'s temp file is kept');
  assert.deepEqual(names.filter((n) => !n.startsWith('.')).sort(), ['etcd.json', 'flannel.json', 'other.json', 'torn.json']);
  assert.deepEqual(await readAppliedRecord('etcd', dir), record('etcd'));
  assert.deepEqual((await listAppliedRecords(dir)).map((r) => r.name), ['etcd', 'flannel'], 'temp files are not records');
});
