// Hostile and multi-file input: alias bombs, duplicate keys, oversized and
// non-UTF-8 files, directories, duplicate names across files, cycles.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadManifests, MAX_FILE_BYTES } from '../../../src/manifest/index.ts';
import { BUILTINS, check, problems } from './helpers.ts';

let dir = '';
before(async () => {
  dir = await mkdtemp('/var/tmp/keel-manifest-test-');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function billionLaughs(levels: number): string {
  let text = 'variables:\n  L0: &l0 "lol"\n';
  for (let i = 1; i <= levels; i++) text += `  L${i}: &l${i} [${Array(9).fill(`*l${i - 1}`).join(', ')}]\n`;
  return `${text}name: bomb\nimage: x\n`;
}

test('an alias bomb (billion laughs) is refused quickly, at the first alias', () => {
  const started = performance.now();
  const r = check(billionLaughs(9));
  assert.ok(performance.now() - started < 2000);
  assert.equal(r.problems.length, 1);
  assert.match(r.problems[0]?.message ?? '', /alias bomb/);
  assert.deepEqual([r.problems[0]?.line, r.problems[0]?.column], [3, 12]);
  assert.deepEqual(r.specs, []);
});

test('a few harmless aliases are fine', () => {
  const r = check('name: a\nimage: x\nafter: &deps [network-online.target]\nwants: *deps\n');
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.specs[0]?.wants, ['network-online.target']);
});

test('duplicate keys are refused, even with the same value', () => {
  assert.deepEqual(problems('name: a\nimage: x\nname: a\n'), ['3:1 : duplicate key in a mapping']);
  assert.deepEqual(problems('name: a\nimage: x\nrestart: {policy: always, policy: no}\n'), ['3:27 : duplicate key in a mapping']);
  assert.deepEqual(check('name: a\nimage: x\nname: a\n').specs, []);
});

test('a YAML syntax error is reported once, not as a cascade', () => {
  const got = problems('name: a\nimage: x\nenv: {A: ${B}}\n');
  assert.equal(got.length, 1);
  assert.match(got[0] ?? '', /^3:\d+ : YAML: /);
});

test('oversized text is refused without parsing', () => {
  const text = `name: a\nimage: x\n#${'x'.repeat(MAX_FILE_BYTES)}\n`;
  const r = check(text);
  assert.deepEqual(r.problems.map((p) => [p.line, p.message]), [[0, `file is larger than ${MAX_FILE_BYTES} bytes`]]);
});

test('loadManifests: every problem in every file, directories expanded in order, oversized and binary files refused', async () => {
  const d = join(dir, 'manifests.d');
  await mkdir(d);
  await writeFile(join(d, '20-flannel.yml'), 'name: flannel\nimage: x\nafter: [etcd]\nrequires: [etcd]\n');
  await writeFile(join(d, '10-etcd.yaml'), 'name: etcd\nimage: x\nnotify: yes\n');
  await writeFile(join(d, '30-big.yaml'), `#${'x'.repeat(MAX_FILE_BYTES)}\n`);
  await writeFile(join(d, '40-binary.yaml'), Buffer.from([0x6e, 0x61, 0xff, 0xfe, 0x0a]));
  await writeFile(join(d, 'README.md'), 'not a manifest');
  await writeFile(join(d, '.hidden.yaml'), 'garbage: [');
  const other = join(dir, 'dup.yaml');
  await writeFile(other, '# a second etcd\nname: etcd\nimage: y\n');
  const missing = join(dir, 'missing.yaml');
  const r = await loadManifests([d, other, missing, join(d, '20-flannel.yml')], { builtins: BUILTINS });
  assert.deepEqual(r.problems.map((p) => `${p.file.slice(dir.length + 1)}:${p.line}:${p.column} ${p.path}: ${p.message}`), [
    'manifests.d/10-etcd.yaml:3:9 notify: expected true or false, found the string "yes"',
    `manifests.d/30-big.yaml:0:0 : file is larger than ${MAX_FILE_BYTES} bytes`,
    'manifests.d/40-binary.yaml:0:0 : not valid UTF-8 text',
    'dup.yaml:2:7 name: system container etcd is already defined at ' + join(d, '10-etcd.yaml') + ':1:7',
    `missing.yaml:0:0 : cannot read: ENOENT: no such file or directory, stat '${missing}'`,
  ]);
  // flannel is valid (its reference to the invalid etcd still resolves); etcd is not.
  assert.deepEqual(r.specs.map((s) => s.name), ['flannel']);
});

test('loadManifests: references across files resolve; a cycle across files is named', async () => {
  const a = join(dir, 'a.yaml');
  const b = join(dir, 'b.yaml');
  await writeFile(a, 'name: a\nimage: x\nafter: [b]\n');
  await writeFile(b, 'name: b\nimage: x\n---\nname: c\nimage: x\nrequires: [a.service]\nbefore: [b]\n');
  const ok = await loadManifests([a, b]);
  assert.deepEqual(ok.problems.map((p) => p.message), ['ordering cycle: a after b after c after a']);
  // Reported where the loop closes: c (in b.yaml) requires a.
  assert.equal(ok.problems[0]?.file, b);
  assert.deepEqual([ok.problems[0]?.line, ok.problems[0]?.column, ok.problems[0]?.path], [6, 12, 'requires[0]']);
  // The documents that wrote the looping references yield no spec; b only took part.
  assert.deepEqual(ok.specs.map((s) => s.name), ['b']);
});

test('cycles: after and requires count, wants does not, before is reversed', () => {
  assert.deepEqual(problems('name: a\nimage: x\nafter: [b]\n---\nname: b\nimage: x\nwants: [a]\n'), []);
  assert.deepEqual(problems('name: a\nimage: x\nrequires: [b]\n---\nname: b\nimage: x\nafter: [a]\n'), ['7:9 after[0]: ordering cycle: a after b after a']);
  assert.deepEqual(problems('name: a\nimage: x\nbefore: [b]\n---\nname: b\nimage: x\nbefore: [a]\n'), ['3:10 before[0]: ordering cycle: a after b after a']);
  assert.deepEqual(problems('name: a\nimage: x\nbefore: [b]\n---\nname: b\nimage: x\nafter: [a]\n'), []);
});

test('host units are fine without being defined; bare names must be containers', () => {
  assert.deepEqual(problems('name: a\nimage: x\nafter: [network-online.target, containerd.service, var-lib.mount]\n'), []);
  assert.deepEqual(problems('name: a\nimage: x\nafter: [containerd]\n'), ['3:9 after[0]: unknown system container containerd']);
  assert.equal(check('name: a\nimage: x\nafter: [containerd]\n').problems[0]?.hint, 'name a system container in the manifests given, or a host unit with its suffix (containerd.service, containerd.target)');
});

test('empty documents and comment-only files are fine', () => {
  assert.deepEqual(check('# nothing yet\n'), { specs: [], problems: [] });
  assert.deepEqual(check('---\n---\nname: a\nimage: x\n---\n').problems, []);
});

test('deeply nested flow collections are refused before yaml spends seconds on them', () => {
  const started = performance.now();
  const text = `name: a\nimage: x\nargs: ${'['.repeat(400_000)}\n`;
  assert.deepEqual(problems(text), ['3:71 : flow collections ([ ], { }) nested more than 64 deep']);
  assert.ok(performance.now() - started < 1000);
  // Ordinary brackets, balanced or inside strings, are fine.
  assert.deepEqual(problems('name: a\nimage: x\nargs: ["[x]", "{y}", "[[[["]\n'), []);
});

test('deep block nesting is reported, not thrown', () => {
  const text = `name: a\nimage: x\nenv:\n${Array.from({ length: 5000 }, (_, i) => `${' '.repeat(i + 2)}a${i}:`).join('\n')}\n`;
  const r = check(text);
  assert.ok(r.problems.length >= 1);
  assert.deepEqual(r.specs, []);
});
