// ownerAlive (src/layout/owner.ts): an owner is dead only when /proc proves it
// (pid gone, pid reused, another boot). In a mount namespace without /proc (a
// chroot at image-build time) nothing can be proven: a dead owner's lock and
// leftovers are then kept, never a live one's broken.

import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { currentBootId, currentOwner, ownerAlive } from '../../../src/layout/owner.ts';

let base: string;
before(async () => {
  base = await mkdtemp('/var/tmp/keel-owner-');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

function deadPid(): number {
  const r = spawnSync('/bin/true');
  if (r.pid === undefined) throw new Error('could not spawn /bin/true');
  return r.pid;
}

const boot8 = (): string => currentBootId().replace(/-/g, '').slice(0, 8);

it('with /proc: this process lives, a gone pid and a reused one do not', () => {
  assert.equal(ownerAlive(currentOwner()), true);
  assert.equal(ownerAlive({ pid: deadPid(), start: '1', boot: currentBootId() }), false);
  assert.equal(ownerAlive({ pid: process.pid, start: '1', boot: currentBootId() }), false, 'pid reused: another start time');
});

it('without /proc: no owner is proven dead, so reclaimDead keeps what a gone pid left', async (t) => {
  const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']);
  if (probe.status !== 0) return t.skip('unshare --mount is not allowed here');
  const dir = join(base, 'tmp');
  await mkdir(dir);
  const left = `${deadPid()}-12345-${boot8()}.1.layer`;
  await mkdir(join(dir, left));
  const script = join(base, 'probe.ts');
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
  const out = execFileSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `umount -l /proc && exec "$0" "$1"`, process.execPath, script], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), { alive: true, removed: [] });
  assert.deepEqual(await readdir(dir), [left], 'kept without /proc');
  // and with /proc the same name is reclaimed
  const { reclaimDead } = await import('../../../src/layout/staging.ts');
  assert.deepEqual(await reclaimDead(dir), [left]);
});
