// keel exec NAME -- CMD...: runs CMD in the running container NAME with
// `runc exec` (the process settings — user, env, capabilities, cwd — come
// from the container's config.json, as runc does). Resolves with CMD's exit
// status. Invariant: a container runc does not know as running is
// E_CONTAINER_NOT_RUNNING, never a runc error text.

import { execa } from 'execa';
import { KeelError } from '../errors.ts';
import { execArgv, runcPath, runcState } from '../runtime/index.ts';
import { requireContainer } from './observe.ts';

export interface ExecOptions {
  /** keel's root: the name must be one of its containers. */
  readonly root?: string | undefined;
  readonly runc?: string | undefined;
  readonly runcRoot?: string | undefined;
  readonly env?: readonly string[] | undefined;
  /** Give CMD a terminal (runc exec -t); default: when stdin and stdout are terminals. */
  readonly tty?: boolean | undefined;
}

export async function execInContainer(name: string, command: readonly string[], options: ExecOptions = {}): Promise<number> {
  if (command.length === 0) throw new KeelError('E_USAGE', 'keel exec needs a command after --', { hint: 'keel exec etcd -- etcdctl version' });
  if (options.root !== undefined) await requireContainer(options.root, name);
  const o = { runc: options.runc ?? runcPath(), root: options.runcRoot };
  const state = await runcState(o, name);
  if (state === undefined || state.status !== 'running') {
    throw new KeelError('E_CONTAINER_NOT_RUNNING', `system container ${name} is not running${state ? ` (runc says ${state.status})` : ''}`, {
      hint: `see keel status ${name}; start it with systemctl start ${name}`,
    });
  }
  const argv = execArgv(o, name, command, options.env ?? []);
  const tty = options.tty ?? (process.stdin.isTTY === true && process.stdout.isTTY === true);
  if (tty) argv.splice(argv.indexOf('exec') + 1, 0, '-t');
  const [cmd, ...args] = argv;
  // runc's own error (the command could not be started) is turned into a KeelError; the
  // command's stderr passes through untouched.
  const child = execa(cmd as string, args, { stdin: 'inherit', stdout: 'inherit', stderr: 'pipe', reject: false, buffer: false });
  let runcError: string | undefined;
  let pending = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl + 1);
      pending = pending.slice(nl + 1);
      const m = /level=error msg="(?:runc exec failed: )?(.*)"\s*$/.exec(line);
      if (m !== null && runcError === undefined) runcError = (m[1] ?? '').replace(/\\"/g, '"');
      else process.stderr.write(line);
    }
  });
  const r = await child;
  if (pending !== '') process.stderr.write(pending);
  if (runcError !== undefined && r.exitCode === 255) {
    throw new KeelError('E_EXEC_FAILED', `cannot run ${JSON.stringify(command.join(' '))} in ${name}: ${runcError.replace(/^unable to start container process: /, '')}`, {
      detail: { name, command, runc: runcError },
      hint: `is ${command[0] ?? ''} in the image? keel exec ${name} -- ls /usr/bin lists what is there`,
    });
  }
  if (r.exitCode === undefined) return r.signal ? 128 + 15 : 1;
  return r.exitCode;
}
