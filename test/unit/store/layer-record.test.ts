// Layer records carry their format: this keel reads format 1 (or none, from
// before the field existed) and treats any other as invalid, never as present.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { LAYER_RECORD_FORMAT, layerRecordFormat, readLayerRecord } from '../../../src/store/layer-record.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-record-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

const D = `sha256:${'a'.repeat(64)}`;
const base = { diffId: D, digest: D, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', entries: 3, size: 10, treeDigest: D, committed: '2026-12-02T00:00:00.000Z' };

it('reads formats 1 to 3 and a record without format (written before the field); refuses another format', async () => {
  assert.equal(LAYER_RECORD_FORMAT, 3);
  const link: { path: string; target: string; early?: true } = { path: 'b', target: 'a' };
  assert.equal(layerRecordFormat([]), 1, 'a record without external links stays readable by a keel of format 1');
  assert.equal(layerRecordFormat([link, link]), 2, 'one with external links is not: that keel would build trees without them');
  assert.equal(layerRecordFormat([link, { ...link, early: true }]), 3, 'one with an early link is not readable by a keel of format 2: it would make the link after the layer changed its target');
  for (const [name, record, state] of [
    ['v1.json', { ...base, format: 1 }, 'ok'],
    ['old.json', base, 'ok'],
    ['v2.json', { ...base, format: 2 }, 'ok'],
    ['v3.json', { ...base, format: 3 }, 'ok'],
    ['v4.json', { ...base, format: 4 }, 'invalid'],
    ['bad.json', { ...base, format: '1' }, 'invalid'],
  ] as const) {
    await writeFile(join(dir, name), JSON.stringify(record));
    const r = await readLayerRecord(join(dir, name));
    assert.equal(r.state, state, name);
    if (r.state === 'invalid') assert.match(r.why, /record format .* is not one this keel reads/);
  }
});

it('reads externalLinks as a list of {path, target}; a record without it has none; anything else is invalid', async () => {
  const links = [{ path: 'usr/bin/perl5.36', target: 'usr/bin/perl' }];
  for (const [name, record, state] of [
    ['links.json', { ...base, externalLinks: links }, 'ok'],
    ['nolinks.json', base, 'ok'],
    ['links-obj.json', { ...base, externalLinks: { path: 'a', target: 'b' } }, 'invalid'],
    ['links-num.json', { ...base, externalLinks: [{ path: 'a', target: 1 }] }, 'invalid'],
    ['links-str.json', { ...base, externalLinks: ['a'] }, 'invalid'],
    ['links-null.json', { ...base, externalLinks: [null] }, 'invalid'],
    ['links-early.json', { ...base, externalLinks: [{ path: 'a', target: 'b', early: true }] }, 'ok'],
    ['links-early-str.json', { ...base, externalLinks: [{ path: 'a', target: 'b', early: 'yes' }] }, 'invalid'],
  ] as const) {
    await writeFile(join(dir, name), JSON.stringify(record));
    const r = await readLayerRecord(join(dir, name));
    assert.equal(r.state, state, name);
    if (r.state === 'invalid') assert.match(r.why, /externalLinks/);
    if (r.state === 'ok' && name !== 'links-early.json') assert.deepEqual(r.record.externalLinks, name === 'links.json' ? links : undefined);
  }
});

it('reads xattrPaths as a list of paths ([] = known to have none, absent = unknown); anything else is invalid', async () => {
  for (const [name, record, state, expected] of [
    ['x.json', { ...base, xattrPaths: ['usr/bin/ping', 'etc'] }, 'ok', ['usr/bin/ping', 'etc']],
    ['x-none.json', { ...base, xattrPaths: [] }, 'ok', []],
    ['x-absent.json', base, 'ok', undefined],
    ['x-str.json', { ...base, xattrPaths: 'usr/bin/ping' }, 'invalid', undefined],
    ['x-num.json', { ...base, xattrPaths: [1] }, 'invalid', undefined],
  ] as const) {
    await writeFile(join(dir, name), JSON.stringify(record));
    const r = await readLayerRecord(join(dir, name));
    assert.equal(r.state, state, name);
    if (r.state === 'invalid') assert.match(r.why, /xattrPaths/);
    if (r.state === 'ok') assert.deepEqual(r.record.xattrPaths, expected);
  }
});
