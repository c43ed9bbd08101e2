// A renderer killed with kill -9 while it builds an image's shared tree leaves
// its staging behind; `keel prune` reclaims it because its owner (pid, start
// time, boot id in the name) is gone, and keeps a staging whose owner runs.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { stagingPath } from '../../../src/layout/staging.ts';
import { writeOciLayout, type TarEntry } from '../../helpers/oci-layout.ts';
import { PROJECT_NODE, REPO_ROOT, runKeel, tempDir, type TempDir } from '../../helpers/run.ts';

let work: TempDir;
let layout: string;
let root: string;

before(async () => {
  work = await tempDir('keel-staging-');
  layout = path.join(work.path, 'layout');
  root = path.join(work.path, 'store');
  // Many small files: building the hard-link tree takes long enough to be killed in the middle.
  const entries: TarEntry[] = [];
  for (let d = 0; d < 100; d++) {
    entries.push({ name: `d${d}/`, type: 'directory', mode: 0o755 });
    for (let f = 0; f < 150; f++) entries.push({ name: `d${d}/f${f}`, content: `${d}/${f}\n`, mode: 0o644 });
  }
  await writeOciLayout(layout, [{ name: 'many', layers: [entries], config: { Cmd: ['/bin/true'] } }]);
  const pulled = await runKeel(['--root', root, 'pull', '-q', `oci:${layout}:many`]);
  assert.equal(pulled.code, 0, pulled.stderr);
});

after(async () => work?.cleanup());

function renderScript(): string {
  return `
    const { Store } = await import(${JSON.stringify(path.join(REPO_ROOT, 'src/store/index.ts'))});
    const { renderContainer } = await import(${JSON.stringify(path.join(REPO_ROOT, 'src/ops/render.ts'))});
    const { parseManifestText } = await import(${JSON.stringify(path.join(REPO_ROOT, 'src/manifest/index.ts'))});
    const store = await Store.open(${JSON.stringify(root)});
    const r = parseManifestText('name: many\\nimage: oci:${layout}:many\\nreadOnlyRootfs: true\\n', 'many.yaml', { builtins: { HOSTNAME: 'test' } });
    if (r.problems.length > 0) throw new Error(JSON.stringify(r.problems));
    await renderContainer(store, r.specs[0], { cgroupsPath: null });
    process.stdout.write('rendered\\n');
  `;
}

/** Starts a renderer of the image in another process; resolves with it once its staging exists. */
async function renderUntilStaged(): Promise<{ kill: () => Promise<void>; staging: string }> {
  const base = path.join(root, 'rootfs');
  await mkdir(base, { recursive: true });
  const child = spawn(PROJECT_NODE, ['--input-type=module', '-e', renderScript()], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 6000; i++) {
    const staged = (await readdir(base)).find((n) => n.startsWith('.'));
    if (staged !== undefined) {
      return {
        staging: staged,
        kill: async () => {
          child.kill('SIGKILL');
          await exited;
        },
      };
    }
    if (child.exitCode !== null) throw new Error(`the renderer ended before its staging was seen: ${stdout}${stderr}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  child.kill('SIGKILL');
  throw new Error('no staging appeared');
}

test('kill -9 mid-render leaves a staging; keel prune reclaims it, keeps a live one, and the next render works', async () => {
  const { kill, staging } = await renderUntilStaged();
  await kill();
  const base = path.join(root, 'rootfs');
  assert.ok((await readdir(base)).includes(staging), 'the killed renderer left its staging');
  assert.match(staging, /^\.[0-9]+-[0-9]+-[0-9a-f]{8}\.[0-9]+\.staging$/, 'named for its owner');
  // A staging whose owner runs (this test process) and a leftover of an older keel (pid 2^22-1, not running).
  const live = stagingPath(base, 'staging');
  await mkdir(live);
  await mkdir(path.join(base, '.staging-4194303-abcdefgh'));
  const containers = path.join(root, 'containers');
  await mkdir(path.join(containers, 'many'), { recursive: true });
  await writeFile(path.join(containers, 'many', '.1-1-00000000.1.active'), '');

  const pruned = await runKeel(['--root', root, 'prune']);
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, /3 leftovers of interrupted renders/);
  const left = (await readdir(base)).filter((n) => n.startsWith('.'));
  assert.deepEqual(left, [path.basename(live)], 'only the live staging stays');
  assert.deepEqual(await readdir(path.join(containers, 'many')), []);

  // The store is whole: a render from scratch completes.
  const again = spawn(PROJECT_NODE, ['--input-type=module', '-e', renderScript()], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  again.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => again.once('exit', (c) => resolve(c)));
  assert.equal(code, 0);
  assert.equal(out, 'rendered\n');
  assert.deepEqual((await readdir(path.join(base, 'sha256'))).length, 1, 'one complete tree');
});
