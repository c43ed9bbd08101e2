// keel logs NAME [-f] [-n N]: the container's journal, through journalctl
// (the unit's SyslogIdentifier is NAME, its stdout/stderr go to the journal).
// Resolves with journalctl's exit status.

import { execa } from 'execa';
import { journalArgv } from '../runtime/index.ts';
import { parseUnitName } from '../systemd/index.ts';
import { requireContainer } from './observe.ts';

export async function showLogs(root: string, name: string, options: { follow?: boolean | undefined; lines?: number | undefined } = {}): Promise<number> {
  const unit = `${name}.service`;
  parseUnitName(unit, { types: ['service'] }, 'container name');
  await requireContainer(root, name);
  const [cmd, ...args] = journalArgv(unit, options);
  const r = await execa(cmd as string, args, { stdio: 'inherit', reject: false });
  return r.exitCode ?? 1;
}
