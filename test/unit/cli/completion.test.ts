// The bash completion script, run by a real bash: commands, options, paths
// for options that take them, and the containers of the store (--root honoured).

import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ARGUMENTS, bashCompletion, fishCompletion } from '../../../src/cli/completion.ts';
import type { Command } from '../../../src/cli/command.ts';
import { COMMANDS, GLOBAL_OPTIONS } from '../../../src/cli/main.ts';

const run = promisify(execFile);
let dir: string;
let script: string;
let commands: Command[];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'keel-completion-'));
  commands = await Promise.all(COMMANDS.map((c) => c.load()));
  script = path.join(dir, 'keel.bash');
  await writeFile(script, bashCompletion({ version: 'test', commands, globalOptions: GLOBAL_OPTIONS, defaultRoot: path.join(dir, 'default-root') }));
  for (const [root, names] of [['default-root', ['etcd', 'flannel']], ['other', ['kubelet']]] as const) {
    for (const n of names) await mkdir(path.join(dir, root, 'containers', n), { recursive: true });
  }
  await writeFile(path.join(dir, 'etcd.yaml'), 'name: etcd\n');
  await writeFile(path.join(dir, 'notes.txt'), 'x\n');
});

after(async () => rm(dir, { recursive: true, force: true }));

/** What TAB offers after `line` (the last word is the one being completed). */
async function complete(line: string): Promise<string[]> {
  const words = line.split(' ');
  const program = `source ${JSON.stringify(script)}
COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')})
COMP_CWORD=${words.length - 1}
_keel
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await run('bash', ['-c', program], { cwd: dir });
  return stdout.split('\n').filter((l) => l !== '').sort();
}

describe('bash completion', () => {
  it('every command has an argument kind (a new command cannot be forgotten)', () => {
    assert.deepEqual(COMMANDS.map((c) => c.name).filter((n) => ARGUMENTS[n] === undefined), []);
    assert.deepEqual(Object.keys(ARGUMENTS).filter((n) => !COMMANDS.some((c) => c.name === n)), []);
  });

  it('the script is valid bash', async () => {
    await run('bash', ['-n', script]);
  });

  it('completes command names, and global options before the command', async () => {
    assert.deepEqual(await complete('keel re'), ['remove']);
    assert.deepEqual(await complete('keel r'), ['remove', 'rmi', 'rollback']);
    assert.deepEqual(await complete('keel --ro'), ['--root']);
  });

  it("completes a command's own options and the global ones", async () => {
    assert.deepEqual(await complete('keel apply --d'), ['--debug', '--dry-run']);
    assert.deepEqual(await complete('keel update --re'), ['--retry-failed']);
    const logs = await complete('keel logs -');
    for (const o of ['--follow', '-f', '--lines', '-n', '--root', '--help']) assert.ok(logs.includes(o), o);
  });

  it('completes the containers of the store, from --root when given', async () => {
    assert.deepEqual(await complete('keel status '), ['etcd', 'flannel']);
    assert.deepEqual(await complete('keel remove f'), ['flannel']);
    assert.deepEqual(await complete(`keel --root ${path.join(dir, 'other')} logs `), ['kubelet']);
    assert.deepEqual(await complete(`keel exec --root=${path.join(dir, 'other')} `), ['kubelet']);
  });

  it('completes manifests (YAML files and directories) for apply, paths for path options, nothing for other values', async () => {
    assert.deepEqual(await complete('keel apply e'), ['etcd.yaml']);
    assert.deepEqual(await complete('keel apply n'), []);
    assert.deepEqual(await complete('keel --root def'), ['default-root']);
    assert.deepEqual(await complete('keel logs -n '), []);
    assert.deepEqual(await complete('keel update --window '), []);
  });

  it('offers nothing after -- (the command inside the container)', async () => {
    assert.deepEqual(await complete('keel exec etcd -- '), []);
  });
});

describe('fish completion', () => {
  let fishScript: string;
  before(async () => {
    fishScript = path.join(dir, 'keel.fish');
    const summaries = Object.fromEntries(COMMANDS.map((c) => [c.name, c.summary]));
    await writeFile(fishScript, fishCompletion({ version: 'test', commands, globalOptions: GLOBAL_OPTIONS, defaultRoot: path.join(dir, 'default-root'), summaries }));
  });

  /** What fish offers for `line` (complete -C), first column only. */
  async function fishComplete(line: string): Promise<string[]> {
    const { stdout } = await run('fish', ['--no-config', '-c', `source ${fishScript}; complete -C ${JSON.stringify(line)}`], { cwd: dir });
    return stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t')[0] as string).sort();
  }

  it('the script is valid fish', async () => {
    await run('fish', ['--no-execute', fishScript]);
  });

  it('commands with their --help summaries, options, containers from --root', async () => {
    const { stdout } = await run('fish', ['--no-config', '-c', `source ${fishScript}; complete -C "keel sta"`]);
    assert.equal(stdout.trim(), 'status\tshow the system containers and their units');
    assert.deepEqual(await fishComplete('keel update --re'), ['--retry-failed']);
    assert.deepEqual(await fishComplete('keel status '), ['etcd', 'flannel']);
    assert.deepEqual(await fishComplete(`keel --root ${path.join(dir, 'other')} logs `), ['kubelet']);
    assert.deepEqual(await fishComplete(`keel exec --root=${path.join(dir, 'other')} k`), ['kubelet']);
  });
});
