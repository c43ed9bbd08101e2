// keel logs NAME [-f] [-n N]

import { KeelError } from '../../errors.ts';
import { showLogs } from '../../ops/logs.ts';
import type { Command } from '../command.ts';

export const logs: Command = {
  name: 'logs',
  usage: 'keel logs [-f] [-n N] NAME',
  description: `Shows the journal of NAME.service (the container's stdout and stderr, and systemd's
messages about the unit): journalctl -u NAME.service. Only for system containers keel
created: any other name is E_CONTAINER_NOT_FOUND (66).`,
  options: {
    follow: { type: 'boolean', short: 'f', help: 'keep printing new lines' },
    lines: { type: 'string', short: 'n', value: 'N', help: 'only the last N lines' },
  },
  minArgs: 1,
  maxArgs: 1,
  async run({ global, values, positionals }) {
    let lines: number | undefined;
    if (typeof values.lines === 'string') {
      lines = Number(values.lines);
      if (!Number.isSafeInteger(lines) || lines < 0) throw new KeelError('E_USAGE', `-n ${values.lines} is not a number of lines`);
    }
    return showLogs(global.root, positionals[0] as string, { follow: values.follow === true, lines });
  },
};
