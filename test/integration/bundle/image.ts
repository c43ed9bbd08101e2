// Builds the busybox test image of the bundle integration tests with umoci (an implementation
// nobody here wrote): busybox-static with applet symlinks, a passwd/group with a user, an
// entrypoint and env in the config. Returns `oci:LAYOUT:TAG`.

import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { runProgram } from '../../helpers/run.ts';

const APPLETS = ['sh', 'id', 'cat', 'grep', 'pwd', 'env', 'echo', 'touch', 'sort', 'hostname', 'sleep', 'ls', 'true'];

async function run(file: string, args: string[]): Promise<void> {
  const r = await runProgram(file, args, { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${file} ${args.join(' ')}: ${r.stderr}`);
}

export async function buildBusyboxImage(work: string, tag = 'bb'): Promise<string> {
  const layout = `${work}/layout`;
  const bundle = `${work}/umoci-bundle`;
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', `${layout}:${tag}`]);
  await run('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
  const rootfs = `${bundle}/rootfs`;
  // Layer 1: busybox and its applets.
  await mkdir(`${rootfs}/bin`, { recursive: true });
  await copyFile('/bin/busybox', `${rootfs}/bin/busybox`);
  await chmod(`${rootfs}/bin/busybox`, 0o755);
  for (const a of APPLETS) await symlink('busybox', `${rootfs}/bin/${a}`);
  await run('umoci', ['repack', '--refresh-bundle', '--image', `${layout}:${tag}`, bundle]);
  // Layer 2: users and groups, a file whited out later would go here too.
  await mkdir(`${rootfs}/etc`, { recursive: true });
  await writeFile(`${rootfs}/etc/passwd`, 'root:x:0:0:root:/root:/bin/sh\napp:x:1234:1234:app:/home/app:/bin/sh\n');
  await writeFile(`${rootfs}/etc/group`, 'root:x:0:\napp:x:1234:\nextra:x:555:app\n');
  await run('umoci', ['repack', '--refresh-bundle', '--image', `${layout}:${tag}`, bundle]);
  await run('umoci', ['config', '--image', `${layout}:${tag}`, '--config.entrypoint', '/bin/sh', '--config.cmd', '-c', '--config.cmd', 'echo image-default',
    '--config.env', 'FROM_IMAGE=yes', '--config.env', 'GREETING=image', '--config.workingdir', '/']);
  return `oci:${layout}:${tag}`;
}
