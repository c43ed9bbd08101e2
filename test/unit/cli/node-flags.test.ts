// keel's Node flags are written in three places (bin/keel, the .deb's launcher
// in packaging/build-deb, selfArgv for units that run keel): they must agree.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { selfArgv } from '../../../src/cli/context.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;

function flagsOfExec(script: string): string[] {
  const line = script.split('\n').find((l) => l.startsWith('exec "$node"'));
  assert.ok(line, 'an exec "$node" line');
  return line.split(/\s+/).filter((w) => w.startsWith('--'));
}

test('bin/keel, the .deb launcher and selfArgv pass the same Node flags (the semi-space size among them)', async () => {
  const bin = flagsOfExec(await readFile(`${ROOT}bin/keel`, 'utf8'));
  const deb = flagsOfExec(await readFile(`${ROOT}packaging/build-deb`, 'utf8'));
  const self = selfArgv({ root: '/r', manifests: '/m', config: '/c', debug: false } as Parameters<typeof selfArgv>[0]).slice(1).filter((a, i, all) => a.startsWith('--') && i < all.indexOf('--root'));
  assert.deepEqual(bin, ['--enable-source-maps', '--max-semi-space-size=1']);
  assert.deepEqual(deb, bin);
  assert.deepEqual(self, bin);
});
