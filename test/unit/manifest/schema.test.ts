// manifests/schema.json is generated from the key table, and the schema and
// the validator agree: the examples pass both; each invalid manifest below
// is refused by both (read by an independent mini JSON-Schema checker).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { manifestSchema, renderSchemaJson } from '../../../src/manifest/index.ts';
import { check } from './helpers.ts';
import { checkSchema } from './json-schema-check.ts';

const ROOT = new URL('../../../', import.meta.url);
const schema = manifestSchema() as Record<string, unknown>;

function schemaErrors(text: string): string[] {
  return parseAllDocuments(text, { version: '1.2', schema: 'core' }).flatMap((d) => {
    const value: unknown = d.toJS();
    return value === null ? [] : checkSchema(schema, value);
  });
}

test('the committed manifests/schema.json is the one the key table generates', async () => {
  const committed = await readFile(new URL('manifests/schema.json', ROOT), 'utf8');
  assert.equal(committed, renderSchemaJson(), 'regenerate: node -e "import(\'./src/manifest/schema.ts\').then(m => process.stdout.write(m.renderSchemaJson()))" > manifests/schema.json');
});

test('every pattern in the schema is a valid ECMAScript regex with the u flag (as editors compile them)', () => {
  const patterns: string[] = [];
  const collect = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(collect);
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'pattern' && typeof x === 'string') patterns.push(x);
        else collect(x);
      }
    }
  };
  collect(schema);
  assert.ok(patterns.length > 10);
  for (const p of patterns) assert.doesNotThrow(() => new RegExp(p, 'u'), p);
});

test('the examples in manifests/ pass the schema and the validator', async () => {
  const dir = new URL('manifests/', ROOT);
  const names = (await readdir(dir)).filter((n) => n.endsWith('.yaml'));
  assert.deepEqual(names.sort(), ['etcd.yaml', 'flannel.yaml', 'kubelet.yaml']);
  const all: string[] = [];
  for (const n of names) {
    const text = await readFile(new URL(n, dir), 'utf8');
    assert.deepEqual(schemaErrors(text), [], `${n} against the schema`);
    all.push(text);
  }
  // Validated together: kubelet refers to flannel, flannel to etcd.
  const r = check(all.join('\n---\n'));
  assert.deepEqual(r.problems, []);
  assert.equal(r.specs.length, 3);
});

const VALID: readonly string[] = [
  'name: a\nimage: x\n',
  'name: a\nimage: x\nuser: 1000\nstopTimeout: 90\nresources: {memoryMax: 536870912, tasksMax: infinity}\n',
  'name: a\nimage: x\nuser: "daemon:adm"\nstopTimeout: 2min\nresources: {memoryMax: 512M}\nrestart: {delaySec: 0.5}\n',
  'variables: {NET: none}\nname: "${N}"\nimage: x\nnetwork: ${NET}\n',
  'name: a\nimage: x\nmounts:\n  - {type: bind, source: /a, target: /b, propagation: rslave}\n  - {type: tmpfs, target: /t, size: 1G, mode: "0700"}\n',
  'name: a\nimage: x\nafter: [network-online.target, getty@tty1.service]\ncapabilities: {add: [ALL]}\n',
];

/** Refused by both the schema and the validator. */
const INVALID: readonly (readonly [string, string])[] = [
  ['no image', 'name: a\n'],
  ['no name', 'image: x\n'],
  ['unknown key', 'name: a\nimage: x\nimage_pull: always\n'],
  ['name pattern', 'name: A_B\nimage: x\n'],
  ['name with .service', 'name: a.service\nimage: x\n'],
  ['empty image', 'name: a\nimage: ""\n'],
  ['description on two lines', 'name: a\nimage: x\ndescription: "a\\nb"\n'],
  ['command empty', 'name: a\nimage: x\ncommand: []\n'],
  ['args not strings', 'name: a\nimage: x\nargs: [1]\n'],
  ['env value a number', 'name: a\nimage: x\nenv: {A: 1}\n'],
  ['env name', 'name: a\nimage: x\nenv: {"1A": x}\n'],
  ['workingDir relative', 'name: a\nimage: x\nworkingDir: srv\n'],
  ['user pattern', 'name: a\nimage: x\nuser: "a:b:c"\n'],
  ['user negative', 'name: a\nimage: x\nuser: -1\n'],
  ['mount without type', 'name: a\nimage: x\nmounts: [{source: /a, target: /a}]\n'],
  ['mount type unknown', 'name: a\nimage: x\nmounts: [{type: volume, target: /a}]\n'],
  ['bind without source', 'name: a\nimage: x\nmounts: [{type: bind, target: /a}]\n'],
  ['bind with size', 'name: a\nimage: x\nmounts: [{type: bind, source: /a, target: /a, size: 1M}]\n'],
  ['tmpfs with source', 'name: a\nimage: x\nmounts: [{type: tmpfs, source: /a, target: /a}]\n'],
  ['relative target', 'name: a\nimage: x\nmounts: [{type: tmpfs, target: tmp}]\n'],
  ['path with ..', 'name: a\nimage: x\nmounts: [{type: bind, source: /a/../b, target: /a}]\n'],
  ['path with trailing /', 'name: a\nimage: x\nmounts: [{type: bind, source: /a/, target: /a}]\n'],
  ['propagation', 'name: a\nimage: x\nmounts: [{type: bind, source: /a, target: /a, propagation: both}]\n'],
  ['readOnly not boolean', 'name: a\nimage: x\nmounts: [{type: bind, source: /a, target: /a, readOnly: "false"}]\n'],
  ['tmpfs mode integer', 'name: a\nimage: x\nmounts: [{type: tmpfs, target: /a, mode: 755}]\n'],
  ['tmpfs size', 'name: a\nimage: x\nmounts: [{type: tmpfs, target: /a, size: 1X}]\n'],
  ['readOnlyRootfs yes', 'name: a\nimage: x\nreadOnlyRootfs: yes\n'],
  ['network', 'name: a\nimage: x\nnetwork: bridge\n'],
  ['pid', 'name: a\nimage: x\npid: none\n'],
  ['ipc', 'name: a\nimage: x\nipc: shareable\n'],
  ['hostFiles', 'name: a\nimage: x\nhostFiles: 1\n'],
  ['capability unknown', 'name: a\nimage: x\ncapabilities: {add: [CAP_ROOT]}\n'],
  ['capability without prefix', 'name: a\nimage: x\ncapabilities: {drop: [NET_RAW]}\n'],
  ['capabilities unknown key', 'name: a\nimage: x\ncapabilities: {remove: [CAP_BPF]}\n'],
  ['capability twice', 'name: a\nimage: x\ncapabilities: {add: [CAP_BPF, CAP_BPF]}\n'],
  ['memoryMax', 'name: a\nimage: x\nresources: {memoryMax: 1.5G}\n'],
  ['cpuWeight', 'name: a\nimage: x\nresources: {cpuWeight: 10001}\n'],
  ['tasksMax', 'name: a\nimage: x\nresources: {tasksMax: 0}\n'],
  ['nofile', 'name: a\nimage: x\nresources: {nofile: 2000000}\n'],
  ['resources unknown key', 'name: a\nimage: x\nresources: {memory: 1G}\n'],
  ['restart policy', 'name: a\nimage: x\nrestart: {policy: unless-stopped}\n'],
  ['restart delay', 'name: a\nimage: x\nrestart: {delaySec: 7200}\n'],
  ['restart as a string', 'name: a\nimage: x\nrestart: always\n'],
  ['notify', 'name: a\nimage: x\nnotify: "true"\n'],
  ['stopSignal', 'name: a\nimage: x\nstopSignal: SIGSTOP\n'],
  ['stopTimeout 0', 'name: a\nimage: x\nstopTimeout: 0\n'],
  ['stopTimeout text', 'name: a\nimage: x\nstopTimeout: forever\n'],
  ['after not a list', 'name: a\nimage: x\nafter: network.target\n'],
  ['after bad unit', 'name: a\nimage: x\nafter: [network.tgt]\n'],
  ['wants duplicate', 'name: a\nimage: x\nwants: [a.service, a.service]\n'],
  ['pull', 'name: a\nimage: x\npull: if-not-present\n'],
  ['variables not strings', 'variables: {A: 1}\nname: a\nimage: x\n'],
  ['variables bad name', 'variables: {"A-B": x}\nname: a\nimage: x\n'],
  ['not a mapping', '[a, b]\n'],
];

for (const text of VALID) {
  test(`valid for both: ${JSON.stringify(text.slice(0, 60))}`, () => {
    assert.deepEqual(schemaErrors(text), []);
    assert.deepEqual(check(text, { set: { N: 'n' } }).problems, []);
  });
}

for (const [what, text] of INVALID) {
  test(`refused by both: ${what}`, () => {
    assert.notDeepEqual(schemaErrors(text), [], 'the schema accepted it');
    assert.notDeepEqual(check(text).problems, [], 'the validator accepted it');
  });
}

test('semantic checks only the validator makes (the schema cannot express them)', () => {
  for (const text of [
    'name: a\nimage: x\ncapabilities: {add: [CAP_BPF], drop: [CAP_BPF]}\n',
    'name: a\nimage: x\nmounts: [{type: bind, source: /proc, target: /p}]\n',
    'name: a\nimage: x\nafter: [b]\n',
    'name: a\nimage: "${UNDEFINED}"\n',
    'name: keel\nimage: x\n',
    'name: a\nimage: "Not A Reference"\n',
  ]) {
    assert.deepEqual(schemaErrors(text), [], text);
    assert.notDeepEqual(check(text).problems, [], text);
  }
});
