// syncFilesystem coalesces: callers that ask while a sync runs share the next
// one. Counted with a `sync` on PATH that logs its calls and takes a while.

import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { syncFilesystem } from '../../../src/util/durable.ts';

describe('syncFilesystem', () => {
  let dir: string;
  let savedPath: string | undefined;
  before(async () => {
    dir = await mkdtemp('/var/tmp/keel-durable-');
    await writeFile(join(dir, 'sync'), `#!/bin/sh\necho "$@" >> ${dir}/calls\nsleep 0.2\n`);
    await chmod(join(dir, 'sync'), 0o755);
    savedPath = process.env.PATH;
    process.env.PATH = `${dir}:${savedPath ?? ''}`;
  });
  after(async () => {
    process.env.PATH = savedPath;
    await rm(dir, { recursive: true, force: true });
  });
  const calls = async (): Promise<string[]> => (await readFile(join(dir, 'calls'), 'utf8').catch(() => '')).split('\n').filter(Boolean);

  it('runs one sync for one caller, and one more for all who asked while it ran', async () => {
    await syncFilesystem(dir);
    assert.deepEqual(await calls(), [`-f ${dir}`]);
    const first = syncFilesystem(dir);
    await new Promise((r) => setTimeout(r, 50));
    // these arrive while the first runs: its sync may predate their writes, so they need the next
    const late = [syncFilesystem(dir), syncFilesystem(dir), syncFilesystem(dir)];
    await Promise.all([first, ...late]);
    assert.equal((await calls()).length, 3, 'one sync, then one for the three that came late');
  });

  it('a caller that asks after the syncs ended gets its own', async () => {
    const before = (await calls()).length;
    await syncFilesystem(dir);
    assert.equal((await calls()).length, before + 1);
  });
});
