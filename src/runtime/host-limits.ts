// What the host's service manager can give a unit. systemd cannot set a
// unit's RLIMIT_NOFILE above its own hard limit, and runc (which, once the
// container's capabilities are set, lacks CAP_SYS_RESOURCE) cannot raise it
// either: a manifest asking for more would fail at every start with "error
// setting rlimit type 7". keel clamps to what the host allows, and says so.

import { readFile } from 'node:fs/promises';

/** PID 1's hard RLIMIT_NOFILE, or undefined when it cannot be read (or is unlimited). */
export async function managerNofileHardLimit(limitsFile = '/proc/1/limits'): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(limitsFile, 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const hard = line?.trim().split(/\s+/)[4];
  const n = Number(hard);
  return hard !== undefined && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
