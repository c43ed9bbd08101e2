// Paths keel names to its user exist where keel runs: --help and hints name
// the checkout's docs/ or the package's /usr/share/doc/keel/, and every
// `$schema` reference names where the .deb installs schema.json.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { mainHelp } from '../../../src/cli/main.ts';
import { INSTALLED_DOC_DIR, INSTALLED_SCHEMA_PATH, docDirectory } from '../../../src/util/doc-path.ts';

const REPO = path.resolve(import.meta.dirname, '../../..');

test('docDirectory: a checkout (src/ or dist/) uses its docs/; the installed code (/usr/lib/keel/dist) uses /usr/share/doc/keel', () => {
  const seen: string[] = [];
  const exists = (files: string[]) => (p: string): boolean => {
    seen.push(p);
    return files.includes(p);
  };
  assert.equal(docDirectory('file:///work/keel/dist/util/doc-path.js', exists(['/work/keel/docs/errors.md'])), '/work/keel/docs');
  assert.equal(docDirectory('file:///work/keel/src/util/doc-path.ts', exists(['/work/keel/docs/errors.md'])), '/work/keel/docs');
  assert.equal(docDirectory('file:///usr/lib/keel/dist/util/doc-path.js', exists([])), INSTALLED_DOC_DIR);
  assert.equal(INSTALLED_DOC_DIR, '/usr/share/doc/keel');
  assert.deepEqual(seen, ['/work/keel/docs/errors.md', '/work/keel/docs/errors.md', '/usr/lib/keel/docs/errors.md']);
});

test('keel --help names an errors.md that exists here (this checkout)', () => {
  const m = /error codes: (\S+)$/m.exec(mainHelp());
  assert.ok(m, mainHelp());
  assert.equal(m[1], path.join(REPO, 'docs/errors.md'));
  assert.ok(existsSync(m[1] as string));
  assert.doesNotMatch(mainHelp(), /\sdocs\/errors\.md/);
});

test('the .deb installs docs/*.md into INSTALLED_DOC_DIR and schema.json at INSTALLED_SCHEMA_PATH', async () => {
  const script = await readFile(path.join(REPO, 'packaging/build-deb'), 'utf8');
  assert.match(script, /^doc="\$pkg\/usr\/share\/doc\/keel"$/m);
  assert.match(script, /^install -m 0644 "\$ROOT\/README\.md" "\$ROOT"\/docs\/\*\.md "\$doc\/"$/m);
  assert.equal(INSTALLED_DOC_DIR, '/usr/share/doc/keel');
  assert.match(script, /^install -m 0644 "\$ROOT"\/manifests\/\*\.yaml "\$ROOT\/manifests\/schema\.json" "\$pkg\/usr\/share\/keel\/manifests\/"$/m);
  assert.equal(INSTALLED_SCHEMA_PATH, '/usr/share/keel/manifests/schema.json');
});

test('every $schema reference (example manifests, docs, README) names the installed schema.json', async () => {
  const files = [
    ...(await readdir(path.join(REPO, 'manifests'))).filter((f) => f.endsWith('.yaml')).map((f) => `manifests/${f}`),
    ...(await readdir(path.join(REPO, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
    'README.md',
  ];
  let found = 0;
  for (const f of files) {
    const text = await readFile(path.join(REPO, f), 'utf8');
    for (const m of text.matchAll(/\$schema=(\S+)/g)) {
      found += 1;
      assert.equal(m[1], INSTALLED_SCHEMA_PATH, `${f} names ${m[1]}`);
    }
  }
  assert.ok(found >= 5, `only ${found} $schema references found`);
  for (const f of files.filter((x) => x.startsWith('manifests/'))) {
    assert.match(await readFile(path.join(REPO, f), 'utf8'), /^# yaml-language-server: \$schema=\/usr\/share\/keel\/manifests\/schema\.json\n/, f);
  }
});
