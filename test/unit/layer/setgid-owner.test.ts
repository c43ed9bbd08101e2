// Owners inside a setgid directory: a node created there takes the directory's
// group from the kernel, so keel must set the entry's own group even on a node
// it just created (Debian's /var/mail is root:mail 2775; a root:root file in it
// stays root:root, as with umoci and tar --same-owner).

import assert from 'node:assert/strict';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { stackLayers } from '../../../src/layer/index.ts';
import { extractTar, makeSandbox, packTar, type Sandbox } from './helpers.ts';

let sb: Sandbox;
before(async () => {
  sb = await makeSandbox();
});
after(async () => {
  await sb.checkTripwire();
  await sb.cleanup();
});

test('entries inside a setgid directory keep their own group, extracted and stacked', async () => {
  const dir = await sb.newDir('setgid');
  const tar = await packTar([
    { name: 'var/', type: 'directory', mode: 0o755 },
    { name: 'var/mail/', type: 'directory', mode: 0o2775, gid: 8 },
    { name: 'var/mail/root', data: 'x', mode: 0o600 },
    { name: 'var/mail/sub/', type: 'directory', mode: 0o755 },
    { name: 'var/mail/link', type: 'symlink', linkname: 'root' },
    { name: 'var/mail/staff', data: 'y', mode: 0o640, gid: 50 },
  ]);
  await extractTar(tar, dir);
  const rootfs = `${dir}-rootfs`;
  await stackLayers([dir], rootfs, { mode: 'copy' });
  for (const top of [dir, rootfs]) {
    const owner = async (rel: string): Promise<string> => {
      const st = await lstat(path.join(top, rel));
      return `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`;
    };
    assert.equal(await owner('var/mail'), '0:8 2775');
    assert.equal(await owner('var/mail/root'), '0:0 600');
    assert.equal(await owner('var/mail/sub'), '0:0 755');
    assert.equal((await lstat(path.join(top, 'var/mail/link'))).gid, 0);
    assert.equal(await owner('var/mail/staff'), '0:50 640');
  }
});
