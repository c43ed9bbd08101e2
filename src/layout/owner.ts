// Who owns a temp file or a lock, and whether that owner still lives.
//
// An owner is (pid, process start time, boot id). The start time is field 22
// of /proc/PID/stat (clock ticks since boot), so a reused pid is told apart
// from the process that died; the boot id (/proc/sys/kernel/random/boot_id)
// tells a previous boot's owner from this one's. Every keel process sharing a
// store must see the same /proc (one pid namespace, one host).
//
// Without /proc (a chroot at image-build time, say) no owner's death can be
// proven: every owner then counts as alive, so no lock is broken and nothing
// another process left in tmp/ is removed (a stale lock then times out with
// E_STORE_LOCKED naming its pid, instead of a live one being broken).
//
// Names of things a process leaves in tmp/ start with its token
// `<pid>-<start>-<boot8>.` so a later process can decide, from the name alone,
// whether it may clean them up.

import { readFileSync } from 'node:fs';

export interface Owner {
  readonly pid: number;
  /** /proc/PID/stat field 22 (starttime), as a decimal string. */
  readonly start: string;
  /** /proc/sys/kernel/random/boot_id. */
  readonly boot: string;
}

let bootId: string | undefined;
let self: Owner | undefined;
let counter = 0;

export function currentBootId(): string {
  if (bootId === undefined) {
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootId = 'unknown';
    }
  }
  return bootId;
}

interface ProcStat {
  readonly start: string;
  readonly state: string;
}

/** Reads /proc/PID/stat; undefined when the process does not exist. */
function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses: fields 3.. follow the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const start = rest[19]; // field 22 = index 22 - 3
  if (state === undefined || start === undefined) return undefined;
  return { start, state };
}

export function processStartTime(pid: number): string | undefined {
  return readProcStat(pid)?.start;
}

export function currentOwner(): Owner {
  if (self === undefined || self.pid !== process.pid) {
    self = Object.freeze({ pid: process.pid, start: processStartTime(process.pid) ?? '0', boot: currentBootId() });
  }
  return self;
}

let procSeen: boolean | undefined;

/** Whether this process sees /proc: the boot id and its own stat. */
function procVisible(): boolean {
  procSeen ??= currentBootId() !== 'unknown' && readProcStat(process.pid) !== undefined;
  return procSeen;
}

/** Whether the owner is this very process or another that still runs (or, without /proc, may still run). */
export function ownerAlive(owner: Owner): boolean {
  if (!procVisible()) return true; // death cannot be proven: never break or clean up (see the header)
  if (shortBoot(owner.boot) !== shortBoot(currentBootId())) return false;
  const stat = readProcStat(owner.pid);
  if (stat === undefined) return false;
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return stat.start === owner.start;
}

function shortBoot(boot: string): string {
  return boot.replace(/-/g, '').slice(0, 8);
}

/** `<pid>-<start>-<first 8 hex of boot id>`: the prefix of every name this process creates in tmp/. */
export function ownerToken(owner: Owner = currentOwner()): string {
  return `${owner.pid}-${owner.start}-${shortBoot(owner.boot)}`;
}

/** A name unique to this process and call: `<token>.<n>.<kind>`. */
export function uniqueName(kind: string): string {
  counter += 1;
  return `${ownerToken()}.${counter}.${kind}`;
}

const TOKEN = /^([0-9]+)-([0-9]+)-([0-9a-f]{8})\./;

/** The owner encoded at the start of a name made by uniqueName, or undefined. */
export function ownerOfName(name: string): Owner | undefined {
  const m = TOKEN.exec(name);
  if (!m) return undefined;
  return { pid: Number(m[1]), start: m[2] ?? '', boot: m[3] ?? '' };
}

/**
 * Whether `name` starts with an owner token whose owner is provably gone.
 * False for a live owner and for a name without a token (whose owner is unknown).
 */
export function isDeadOwnedName(name: string): boolean {
  const owner = ownerOfName(name);
  return owner !== undefined && !ownerAlive(owner);
}
