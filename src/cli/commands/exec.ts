// keel exec NAME -- CMD...

import { execInContainer } from '../../ops/exec.ts';
import type { Command } from '../command.ts';

export const exec: Command = {
  name: 'exec',
  usage: 'keel exec [--env VAR=VALUE]... [--tty] NAME -- CMD [ARG...]',
  description: `Runs CMD inside the running container NAME (runc exec, with the container's user,
environment, capabilities and working directory) and exits with CMD's exit status.

Example:
  keel exec etcd -- etcdctl endpoint health`,
  options: {
    env: { type: 'string', value: 'VAR=VALUE', multiple: true, help: 'extra environment for CMD (repeatable)' },
    tty: { type: 'boolean', short: 't', help: 'give CMD a terminal (default: when run from one)' },
  },
  minArgs: 1,
  maxArgs: 1,
  async run({ global, values, positionals, rest }) {
    const env = Array.isArray(values.env) ? values.env : typeof values.env === 'string' ? [values.env] : [];
    return execInContainer(positionals[0] as string, rest, { root: global.root, env, ...(values.tty === true ? { tty: true } : {}) });
  },
};
