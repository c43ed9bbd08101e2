// The journal side of a container unit: `journalctl -u NAME.service` through
// execa, for `keel logs` and for the last lines `keel apply` prints when a
// unit fails. Invariants: never throws for a missing journalctl or an empty
// journal when only reading a tail for an error message (returns '').

import { execa } from 'execa';

export function journalArgv(unit: string, options: { lines?: number | undefined; follow?: boolean | undefined } = {}): string[] {
  const argv = ['journalctl', '--no-pager', '-u', unit];
  if (options.lines !== undefined) argv.push('-n', String(options.lines));
  if (options.follow) argv.push('-f');
  return argv;
}

/** The unit's last `lines` journal lines (message text only), or '' when they cannot be read. */
export async function journalTail(unit: string, lines = 15): Promise<string> {
  try {
    const r = await execa('journalctl', ['--no-pager', '-q', '-o', 'cat', '-n', String(lines), '-u', unit], { reject: false, timeout: 10_000 });
    return r.exitCode === 0 ? r.stdout.trimEnd() : '';
  } catch {
    return '';
  }
}
