// The process and temp-dir helpers: exit codes come back instead of throwing, output is captured,
// stdin is fed, a hung child is killed, bin/keel is resolved inside this repository, and temp dirs
// live under /var/tmp and go away on cleanup.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KEEL_BIN, PROJECT_NODE, REPO_ROOT, runProgram, tempDir } from '../../helpers/run.ts';

describe('run helpers', () => {
  it('returns a non-zero exit code with both outputs instead of throwing', async () => {
    const r = await runProgram('/bin/sh', ['-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [3, 'out\n', 'err\n']);
  });

  it('feeds stdin and puts node_modules/.bin first on PATH', async () => {
    const r = await runProgram('/bin/sh', ['-c', 'cat; command -v node'], { input: 'piped\n' });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `piped\n${PROJECT_NODE}\n`);
  });

  it('kills a child that outlives its timeout and says so', async () => {
    const r = await runProgram('/bin/sleep', ['30'], { timeoutMs: 200 });
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(r.code, 137);
  });

  it('rejects only when the program cannot be started', async () => {
    await assert.rejects(runProgram('/nonexistent/program', []), /could not start/);
  });

  it('resolves bin/keel and the project node inside this repository', async () => {
    assert.equal(KEEL_BIN, join(REPO_ROOT, 'bin/keel'));
    assert.ok((await stat(join(REPO_ROOT, 'package.json'))).isFile());
    const r = await runProgram(PROJECT_NODE, ['--version']);
    assert.match(r.stdout, /^v(2[4-9]|[3-9]\d)\./, 'the project node is Node 24 or newer');
  });

  it('makes temp dirs under /var/tmp and removes them', async () => {
    const t = await tempDir('keel-run-test-');
    assert.ok(t.path.startsWith('/var/tmp/keel-run-test-'));
    await writeFile(join(t.path, 'f'), 'x');
    await t.cleanup();
    await assert.rejects(stat(t.path), { code: 'ENOENT' });
    await t.cleanup();
  });
});
