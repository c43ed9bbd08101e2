// scripts/manpages.ts OUTDIR: writes keel's manual pages (OUTDIR/man1/keel.1,
// OUTDIR/man5/keel-manifest.5, ...) from the command and key tables
// (src/cli/manpages.ts). packaging/build-deb runs it with the project's Node.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GLOBAL_DEFAULTS } from '../src/cli/context.ts';
import { COMMANDS, GLOBAL_OPTIONS } from '../src/cli/main.ts';
import { configPage, keelPage, manifestPage, type ManPage } from '../src/cli/manpages.ts';
import { CONFIG_DOCUMENT } from '../src/config/keel-config.ts';
import { CONTAINER_DOCUMENT } from '../src/manifest/keys.ts';
import { RECORD_DIR } from '../src/runtime/applied-record.ts';
import { VERSION } from '../src/version.ts';

const out = process.argv[2];
if (out === undefined) {
  process.stderr.write('usage: node scripts/manpages.ts OUTDIR\n');
  process.exit(64);
}
// SOURCE_DATE_EPOCH (reproducible builds) or today.
const epoch = process.env['SOURCE_DATE_EPOCH'];
const date = (epoch !== undefined ? new Date(Number(epoch) * 1000) : new Date()).toISOString().slice(0, 10);
const commands = await Promise.all(COMMANDS.map(async (c) => ({ summary: c.summary, command: await c.load() })));
const pages: ManPage[] = [
  keelPage({ version: VERSION, date, commands, globalOptions: GLOBAL_OPTIONS, defaults: { ...GLOBAL_DEFAULTS, records: RECORD_DIR } }),
  manifestPage({ version: VERSION, date, document: CONTAINER_DOCUMENT }),
  configPage({ version: VERSION, date, document: CONFIG_DOCUMENT, path: GLOBAL_DEFAULTS.config }),
];
for (const page of pages) {
  const dir = path.join(out, `man${page.file.slice(page.file.lastIndexOf('.') + 1)}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, page.file), page.text);
  process.stdout.write(`${path.join(dir, page.file)}\n`);
}
