// Image config values that reach config.json (issue 9), through the real CLI:
// a hostile WorkingDir is made absolute and normalised inside the container,
// and a NUL byte in Env (or an entry that is not NAME=VALUE) is refused at
// pull with E_MANIFEST_INVALID instead of reaching runc. The images come from
// an OCI layout written by hand (no registry needed).

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeOciLayout } from '../../helpers/oci-layout.ts';
import { runKeel, tempDir, type TempDir } from '../../helpers/run.ts';

let work: TempDir;
let layout: string;

before(async () => {
  work = await tempDir('keel-image-config-');
  layout = join(work.path, 'layout');
  const layers = [[{ name: 'bin/', type: 'directory' as const }, { name: 'bin/app', content: '#!/bin/sh\n', mode: 0o755 }]];
  await writeOciLayout(layout, [
    { name: 'example.com/escape:1', layers, config: { Cmd: ['/bin/app'], WorkingDir: '../../..' } },
    { name: 'example.com/nul:1', layers, config: { Cmd: ['/bin/app'], Env: ['PATH=/bin', 'EVIL=a\0b'] } },
    { name: 'example.com/noeq:1', layers, config: { Cmd: ['/bin/app'], Env: ['JUSTANAME'] } },
  ]);
});
after(() => work?.cleanup());

test('WorkingDir "../../.." becomes cwd "/" in config.json', async () => {
  const store = join(work.path, 'store-wd');
  const pulled = await runKeel(['--root', store, 'pull', '-q', `oci:${layout}:example.com/escape:1`]);
  assert.equal(pulled.code, 0, pulled.stderr);
  const bundle = join(work.path, 'bundle-wd');
  const unpacked = await runKeel(['--root', store, 'unpack', 'example.com/escape:1', bundle]);
  assert.equal(unpacked.code, 0, unpacked.stderr);
  const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: { cwd: string } };
  assert.equal(config.process.cwd, '/');
});

for (const [name, pattern] of [
  ['example.com/nul:1', /Env\[1\] "EVIL=a\\u0000b" contains a NUL byte \[E_MANIFEST_INVALID\]/],
  ['example.com/noeq:1', /Env\[0\] "JUSTANAME" is not NAME=VALUE \[E_MANIFEST_INVALID\]/],
] as const) {
  test(`${name}: a bad Env entry is refused at pull and the image is not stored under its name`, async () => {
    const store = join(work.path, `store-${name.replace(/\W/g, '-')}`);
    const pulled = await runKeel(['--root', store, 'pull', '-q', `oci:${layout}:${name}`]);
    assert.equal(pulled.code, 76, pulled.stderr);
    assert.match(pulled.stderr, pattern);
    const listed = await runKeel(['--root', store, 'images', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout), []);
  });
}
