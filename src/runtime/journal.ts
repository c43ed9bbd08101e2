// The journal side of a container unit: `journalctl -u NAME.service` through

/** execa is loaded on first use: most commands never spawn anything (start-up time matters at boot). */
async function loadExeca(): Promise<typeof import('execa').execa> {
  return (await import('execa')).execa;
}
// execa, for `keel logs` and for the last lines `keel apply` prints when a
// unit fails. Invariants: never throws for a missing journalctl or an empty
// journal when only reading a tail for an error message (returns '').


export function journalArgv(unit: string, options: { lines?: number | undefined; follow?: boolean | undefined } = {}): string[] {
  const argv = ['journalctl', '--no-pager', '-u', unit];
  if (options.lines !== undefined) argv.push('-n', String(options.lines));
  if (options.follow) argv.push('-f');
  return argv;
}

/** The unit's last `lines` journal lines (message text only), or '' when they cannot be read. */
export async function journalTail(unit: string, lines = 15): Promise<string> {
  try {
    const r = await (await loadExeca())('journalctl', ['--no-pager', '-q', '-o', 'cat', '-n', String(lines), '-u', unit], { reject: false, timeout: 10_000 });
    return r.exitCode === 0 ? r.stdout.trimEnd() : '';
  } catch {
    return '';
  }
}
