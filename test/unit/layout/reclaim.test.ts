// reclaimDead (src/layout/staging.ts), the one remover of what dead owners
// left in tmp/, locks/shared/ and the stagings under --root: it removes a
// name only when the owner its token names is provably gone (pid gone, pid
// reused, previous boot) and keeps a live owner's name and a name without a
// token. Without /proc (a chroot at image-build time) no death is proven
// (ownerAlive, src/layout/owner.ts): nothing is removed.

import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { currentBootId, currentOwner, ownerAlive, ownerToken, processStartTime, uniqueName } from '../../../src/layout/owner.ts';
import { isDeadStaging, reclaimDead, reclaimStagings, stagingPath } from '../../../src/layout/staging.ts';

let base: string;
before(async () => {
  base = await mkdtemp('/var/tmp/keel-reclaim-');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

/** A pid that ran and is gone. */
function deadPid(): number {
  const r = spawnSync('/bin/true');
  if (r.pid === undefined) throw new Error('could not spawn /bin/true');
  return r.pid;
}

const boot8 = (): string => currentBootId().replace(/-/g, '').slice(0, 8);

async function dirWith(name: string, entries: Record<string, 'file' | 'dir'>): Promise<string> {
  const dir = join(base, name);
  await mkdir(dir);
  for (const [entry, kind] of Object.entries(entries)) {
    if (kind === 'dir') await mkdir(join(dir, entry, 'usr', 'bin'), { recursive: true });
    else await writeFile(join(dir, entry), 'partial');
  }
  return dir;
}

it('removes the names of dead owners (gone, pid reused, previous boot), keeps a live owner\'s and a name without a token', async () => {
  const live = uniqueName('blob');
  const gone = `${deadPid()}-777-${boot8()}.3.blob`;
  const goneDir = `${deadPid()}-777-${boot8()}.4.layer`;
  const reused = `${process.pid}-1-${boot8()}.5.blob`;
  const previousBoot = `${process.pid}-${processStartTime(process.pid)}-00000000.6.blob`;
  const dir = await dirWith('tmp', {
    [live]: 'file', [gone]: 'file', [goneDir]: 'dir', [reused]: 'file', [previousBoot]: 'file', 'notes.txt': 'file', '1-2.blob': 'file',
  });
  const removed = await reclaimDead(dir);
  assert.deepEqual(removed.sort(), [gone, goneDir, reused, previousBoot].sort());
  assert.deepEqual((await readdir(dir)).sort(), ['1-2.blob', live, 'notes.txt'].sort());
  assert.deepEqual(await reclaimDead(dir), [], 'a second pass finds nothing');
});

it('a missing directory holds nothing', async () => {
  assert.deepEqual(await reclaimDead(join(base, 'absent')), []);
  assert.deepEqual(await reclaimDead(join(base, 'absent', 'deeper'), { bestEffort: true }), []);
});

it('the filter decides which names are owned: stagings are hidden names, legacy pid names included', async () => {
  const dir = join(base, 'rootfs');
  await mkdir(dir);
  const live = stagingPath(dir, 'staging');
  await mkdir(live);
  const dead = `.${deadPid()}-777-${boot8()}.1.staging`;
  const bare = `${deadPid()}-777-${boot8()}.2.staging`; // not hidden: content, never a staging
  const legacy = '.staging-4194303-abcdefgh'; // pid 2^22-1: not running
  for (const n of [dead, bare, legacy]) await mkdir(join(dir, n));
  assert.equal(isDeadStaging(bare), false);
  assert.deepEqual((await reclaimDead(dir, { isDead: isDeadStaging })).sort(), [dead, legacy].sort());
  assert.deepEqual((await readdir(dir)).sort(), [bare, live.slice(dir.length + 1)].sort());
  assert.deepEqual(await reclaimStagings(dir), []);
  assert.ok(live.slice(dir.length + 1).startsWith(`.${ownerToken()}.`), 'a staging is named for its owner');
});

it('ownerAlive: this process lives; a gone pid, a reused one and another boot\'s do not', () => {
  assert.equal(ownerAlive(currentOwner()), true);
  assert.equal(ownerAlive({ pid: deadPid(), start: '1', boot: currentBootId() }), false);
  assert.equal(ownerAlive({ pid: process.pid, start: '1', boot: currentBootId() }), false);
  assert.equal(ownerAlive({ ...currentOwner(), boot: '00000000-0000-0000-0000-000000000000' }), false);
});

it('without /proc no owner is proven dead: reclaimDead keeps what a gone pid left', async (t) => {
  if (spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']).status !== 0) return t.skip('unshare --mount is not allowed here');
  const gone = `${deadPid()}-12345-${boot8()}.1.layer`;
  const dir = await dirWith('no-proc', { [gone]: 'dir' });
  const script = join(base, 'no-proc.ts');
  const src = new URL('../../../src/', import.meta.url).pathname;
  await writeFile(
    script,
    [
      `import { ownerAlive } from '${src}layout/owner.ts';`,
      `import { reclaimDead } from '${src}layout/staging.ts';`,
      `const removed = await reclaimDead(${JSON.stringify(dir)});`,
      `console.log(JSON.stringify({ alive: ownerAlive({ pid: 999999999, start: '1', boot: 'x' }), removed }));`,
    ].join('\n'),
  );
  // a mount namespace of its own with /proc unmounted, as in a chroot without it
  const out = execFileSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'umount -l /proc && exec "$0" "$1"', process.execPath, script], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), { alive: true, removed: [] });
  assert.deepEqual(await readdir(dir), [gone]);
  assert.deepEqual(await reclaimDead(dir), [gone], 'with /proc the same name is reclaimed');
});
