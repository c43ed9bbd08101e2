// keel logs NAME [-f] [-n N]: the container's journal, through journalctl
// (the unit's SyslogIdentifier is NAME, its stdout/stderr go to the journal).
// Resolves with journalctl's exit status.

import { execa } from 'execa';
import { journalArgv } from '../runtime/index.ts';

export async function showLogs(name: string, options: { follow?: boolean | undefined; lines?: number | undefined } = {}): Promise<number> {
  const [cmd, ...args] = journalArgv(`${name}.service`, options);
  const r = await execa(cmd as string, args, { stdio: 'inherit', reject: false });
  return r.exitCode ?? 1;
}
