// User lookup in the rootfs's own /etc/passwd and /etc/group: names, numeric ids, supplementary
// groups, and the attacks: a passwd symlinked to the host's /etc/shadow, an oversized passwd.

import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile, readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { isKeelError } from '../../../src/errors.ts';
import { resolveInRoot, resolveUser } from '../../../src/bundle/index.ts';
import { tempDir } from './helpers.ts';

describe('resolveUser', () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  before(async () => {
    tmp = await tempDir('keel-bundle-user-');
  });
  after(async () => tmp.cleanup());

  async function rootWith(name: string, passwd: string | undefined, group: string | undefined): Promise<string> {
    const root = `${tmp.path}/${name}`;
    await mkdir(`${root}/etc`, { recursive: true });
    if (passwd !== undefined) await writeFile(`${root}/etc/passwd`, passwd);
    if (group !== undefined) await writeFile(`${root}/etc/group`, group);
    return root;
  }

  it('resolves names, ids and supplementary groups from the image files', async () => {
    const root = await rootWith('ok', 'root:x:0:0:root:/root:/bin/sh\netcd:x:1000:1001:etcd:/var/lib/etcd:/bin/false\n',
      'root:x:0:\netcd:x:1001:\nssl:x:120:etcd,other\nwheel:x:10:root\n');
    assert.deepEqual(await resolveUser(root, 'etcd'), { uid: 1000, gid: 1001, additionalGids: [120], home: '/var/lib/etcd' });
    assert.deepEqual(await resolveUser(root, 'etcd:ssl'), { uid: 1000, gid: 120, additionalGids: [], home: '/var/lib/etcd' });
    assert.equal((await resolveUser(root, '4242:7')).uid, 4242);
    assert.equal((await resolveUser(root, '4242:7')).gid, 7);
    assert.deepEqual(await resolveUser(root, undefined), { uid: 0, gid: 0, additionalGids: [] });
    await assert.rejects(resolveUser(root, 'nobody'), (e: unknown) => isKeelError(e, 'E_MANIFEST_INVALID'));
    await assert.rejects(resolveUser(root, 'etcd:nogroup'), (e: unknown) => isKeelError(e, 'E_MANIFEST_INVALID'));
  });

  it('a passwd symlinked to the host /etc/shadow is resolved inside the rootfs, never followed out (HOST PATH READ)', async () => {
    // The host file keel must never read: a planted tripwire with a user in it.
    const hostFile = `${tmp.path}/host-shadow`;
    await writeFile(hostFile, 'tripwire:x:4444:4444::/:/bin/sh\n');
    const root = await rootWith('evil', undefined, undefined);
    await symlink(hostFile, `${root}/etc/passwd`);
    await symlink('../../../../../../../../etc/shadow', `${root}/etc/group`);
    assert.equal(await resolveInRoot(root, '/etc/passwd'), undefined, 'absolute symlink target is re-rooted, and absent there');
    await assert.rejects(resolveUser(root, 'tripwire'), (e: unknown) => isKeelError(e, 'E_MANIFEST_INVALID'));
    // A copy of the tripwire inside the rootfs at the re-rooted path is what is read instead.
    await mkdir(`${root}${tmp.path}`, { recursive: true });
    await writeFile(`${root}${hostFile}`, 'inside:x:5:5::/:/bin/sh\n');
    assert.equal((await resolveUser(root, 'inside')).uid, 5);
    assert.equal(await readFile(hostFile, 'utf8'), 'tripwire:x:4444:4444::/:/bin/sh\n');
  });

  it('refuses an oversized /etc/passwd instead of reading it into memory', async () => {
    const root = await rootWith('big', `${'x'.repeat(1024)}\n`.repeat(5 * 1024), '');
    await assert.rejects(resolveUser(root, 'someone'), (e: unknown) => isKeelError(e, 'E_BODY_TOO_LARGE'));
  });

  it('a /etc/passwd that is a FIFO or directory is treated as absent', async () => {
    const root = await rootWith('dir', undefined, undefined);
    await mkdir(`${root}/etc/passwd`);
    await assert.rejects(resolveUser(root, 'etcd'), (e: unknown) => isKeelError(e, 'E_MANIFEST_INVALID'));
    assert.equal((await resolveUser(root, '7')).uid, 7);
  });
});
