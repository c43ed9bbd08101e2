// keel(1) and keel-manifest(5) say everything --help, the error table and the
// manifest key table say, and man renders them without warnings.

import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Command } from '../../../src/cli/command.ts';
import { GLOBAL_DEFAULTS } from '../../../src/cli/context.ts';
import { COMMANDS, GLOBAL_OPTIONS } from '../../../src/cli/main.ts';
import { configPage, keelPage, manifestPage, roff, type ManPage } from '../../../src/cli/manpages.ts';
import { CONFIG_DOCUMENT } from '../../../src/config/keel-config.ts';
import { CODES } from '../../../src/errors.ts';
import type { ObjectType } from '../../../src/manifest/field-types.ts';
import { CONTAINER_DOCUMENT } from '../../../src/manifest/keys.ts';

const run = promisify(execFile);
let dir: string;
let commands: Array<{ summary: string; command: Command }>;
let keel: ManPage;
let manifest: ManPage;
let config: ManPage;

/** A page as man shows it (plain text, wide, no hyphenation). */
async function rendered(page: ManPage): Promise<{ text: string; warnings: string }> {
  const file = path.join(dir, page.file);
  await writeFile(file, page.text);
  const r = await run('man', ['--warnings', '-l', file], { env: { ...process.env, MANWIDTH: '400', MAN_KEEP_FORMATTING: '', LANG: 'C.UTF-8' } });
  return { text: r.stdout.replace(/.\x08/g, ''), warnings: r.stderr };
}

function keyPaths(type: ObjectType, prefix = ''): string[] {
  return Object.entries(type.fields).flatMap(([k, f]) => {
    const inner = f.type.kind === 'array' ? f.type.items : f.type;
    const next = f.type.kind === 'array' ? `${prefix}${k}[].` : `${prefix}${k}.`;
    const nested = inner.kind === 'object' ? keyPaths(inner, next)
      : inner.kind === 'tagged' ? Object.values(inner.variants).flatMap((v) => keyPaths(v, next)).filter((p) => p !== `${next}${inner.tag}`) : [];
    return [`${prefix}${k}`, ...nested];
  });
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'keel-man-'));
  commands = await Promise.all(COMMANDS.map(async (c) => ({ summary: c.summary, command: await c.load() })));
  keel = keelPage({ version: '9.9.9', date: '2026-12-02', commands, globalOptions: GLOBAL_OPTIONS, defaults: { ...GLOBAL_DEFAULTS, records: '/run/keel/units' } });
  manifest = manifestPage({ version: '9.9.9', date: '2026-12-02', document: CONTAINER_DOCUMENT });
  config = configPage({ version: '9.9.9', date: '2026-12-02', document: CONFIG_DOCUMENT, path: '/etc/keel/keel.yaml' });
});

after(async () => rm(dir, { recursive: true, force: true }));

describe('manual pages', () => {
  it('roff escapes backslashes, hyphens and a leading dot', () => {
    assert.equal(roff('a\\b'), 'a\\eb');
    assert.equal(roff('--dry-run'), '\\-\\-dry\\-run');
    assert.equal(roff('.hidden\nok'), '\\&.hidden\nok');
  });

  it('keel(1) renders without warnings and has every command, option and usage', async () => {
    const { text, warnings } = await rendered(keel);
    assert.equal(warnings, '');
    assert.match(text, /^KEEL\(1\)/);
    for (const { command } of commands) {
      assert.ok(text.includes(command.usage), `usage of ${command.name}`);
      for (const [name, spec] of Object.entries(command.options)) assert.ok(text.includes(`--${name}`), `keel ${command.name} --${name}`);
      for (const word of command.description.split(/\s+/).filter((w) => w.length > 12)) assert.ok(text.includes(word), `${command.name}: "${word}"`);
    }
    for (const name of Object.keys(GLOBAL_OPTIONS)) assert.ok(text.includes(`--${name}`), `--${name}`);
  });

  it('keel(1) lists every error code with its exit status', async () => {
    const { text } = await rendered(keel);
    for (const [code, info] of Object.entries(CODES)) assert.match(text, new RegExp(`${code} \\(${info.exit}\\)`), code);
  });

  it('keel-manifest(5) renders without warnings and has every key with its description', async () => {
    const { text, warnings } = await rendered(manifest);
    assert.equal(warnings, '');
    assert.match(text, /^KEEL-MANIFEST\(5\)/);
    const missing = keyPaths(CONTAINER_DOCUMENT).filter((k) => !new RegExp(`^ {7}${k.replace(/[[\].]/g, '\\$&')}\\b`, 'm').test(text));
    assert.deepEqual(missing, []);
    assert.ok(text.includes(CONTAINER_DOCUMENT.fields['name']?.description ?? '?'));
  });

  it('keel.yaml(5) renders without warnings and has every key of keel.yaml, hosts as KEY', async () => {
    const { text, warnings } = await rendered(config);
    assert.equal(warnings, '');
    assert.match(text, /^KEEL\.YAML\(5\)/);
    for (const key of ['registries', 'registries.KEY.mirrors', 'registries.KEY.insecure', 'authFile']) assert.match(text, new RegExp(`^ {7}${key.replace(/\./g, '\\.')}$`, 'm'), key);
  });
});
