// keel's Node flags are written in three places (bin/keel, the .deb's launcher
// in packaging/build-deb, selfArgv for units that run keel): they must agree.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { selfArgv } from '../../../src/cli/context.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;

function execLine(script: string): string {
  const line = script.split('\n').find((l) => /^(\w+=\S+ )*exec "\$node"/.test(l));
  assert.ok(line, 'an exec "$node" line');
  return line;
}

function flagsOfExec(script: string): string[] {
  return execLine(script).split(/\s+/).filter((w) => w.startsWith('--'));
}

/** The environment the launcher sets on its exec line (NAME=value words before `exec`). */
function envOfExec(script: string): string[] {
  const line = execLine(script);
  return line.slice(0, line.indexOf('exec ')).split(/\s+/).filter((w) => w.includes('='));
}

test('bin/keel, the .deb launcher and selfArgv pass the same Node flags (the semi-space size among them)', async () => {
  const bin = flagsOfExec(await readFile(`${ROOT}bin/keel`, 'utf8'));
  const deb = flagsOfExec(await readFile(`${ROOT}packaging/build-deb`, 'utf8'));
  const self = selfArgv({ root: '/r', manifests: '/m', config: '/c', debug: false } as Parameters<typeof selfArgv>[0]).slice(1).filter((a, i, all) => a.startsWith('--') && i < all.indexOf('--root'));
  assert.deepEqual(bin, ['--enable-source-maps', '--max-semi-space-size=1']);
  assert.deepEqual(deb, bin);
  assert.deepEqual(self, bin);
});

test('bin/keel and the .deb launcher set the same malloc tuning', async () => {
  const bin = envOfExec(await readFile(`${ROOT}bin/keel`, 'utf8'));
  const deb = envOfExec(await readFile(`${ROOT}packaging/build-deb`, 'utf8'));
  assert.deepEqual(bin, ['MALLOC_MMAP_THRESHOLD_=131072']);
  assert.deepEqual(deb, bin);
});
