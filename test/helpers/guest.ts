// What end-to-end tests do in a booted test host (testhost.ts): run this
// checkout's keel inside it as a user runs it (bin/keel, the project being
// bind-mounted at the same path), run commands, read `systemctl show`, and
// assert that a command succeeded, and tear a test file's guest, registry and
// work directory down. Invariants: nothing here boots a guest; a command's
// failure is an assertion that carries its output.

import { strict as assert } from 'node:assert';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Registry } from './registry.ts';
import { KEEL_BIN as KEEL, REPO_ROOT as PROJECT } from './run.ts';
import type { ExecResult, TestHost } from './testhost.ts';

/** PROJECT: this checkout; bind it into the guest (`binds: [PROJECT]`) so that KEEL (its bin/keel) runs there. */
export { KEEL, PROJECT };

/** How long one keel command in the guest may take (pulls included). */
const KEEL_TIMEOUT_MS = 180_000;

/** Asserts that the command exited 0 (else fails with its output); resolves with its stdout. */
export async function ok(r: Promise<ExecResult> | ExecResult, what: string): Promise<string> {
  const res = await r;
  assert.equal(res.code, 0, `${what} failed (exit ${res.code}):\n${res.stdout}\n${res.stderr}`);
  return res.stdout;
}

export interface GuestCommands {
  /** bin/keel in the guest with the flags given to guestCommands, then `args`. */
  keel(...args: string[]): Promise<ExecResult>;
  /** argv in the guest. */
  guest(...cmd: string[]): Promise<ExecResult>;
  /** `systemctl show -pP…` of a unit, as property → value. */
  show(unit: string, ...props: string[]): Promise<Record<string, string>>;
  /** The unit's MainPID, as systemctl shows it ("0" when none). */
  mainPid(unit: string): Promise<string>;
}

/**
 * Commands in the guest `host()` returns at the time of the call (a test file
 * boots its guest in before()); `keelFlags` come first on every keel command
 * (e.g. --root, --manifests).
 */
export function guestCommands(host: () => TestHost, keelFlags: readonly string[]): GuestCommands {
  const guest = (...cmd: string[]): Promise<ExecResult> => host().exec(cmd);
  const show = async (unit: string, ...props: string[]): Promise<Record<string, string>> => {
    const out = await ok(guest('systemctl', 'show', ...props.map((p) => `-p${p}`), unit), `systemctl show ${unit}`);
    return Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  };
  return {
    keel: (...args) => host().exec([KEEL, ...keelFlags, ...args], { timeoutMs: KEEL_TIMEOUT_MS }),
    guest,
    show,
    mainPid: async (unit) => (await show(unit, 'MainPID')).MainPID ?? '',
  };
}

/** units/keel.service as shipped, its ExecStart pointed at this checkout's keel with `root` and `manifests`. */
export async function keelServiceUnit(root: string, manifests: string): Promise<string> {
  return (await readFile(join(PROJECT, 'units/keel.service'), 'utf8'))
    .replace('ExecStart=/usr/bin/keel boot', `ExecStart=${KEEL} --root ${root} --manifests ${manifests} boot`);
}

/**
 * What an end-to-end file's after() does: powers the guest off, stops the
 * registry, removes the work directory; any of them may be missing (a
 * before() that failed half way).
 */
export async function tearDown(parts: { host?: TestHost | undefined; registry?: Registry | undefined; work?: string | undefined }): Promise<void> {
  await parts.host?.shutdown();
  await parts.registry?.stop();
  if (parts.work !== undefined) await rm(parts.work, { recursive: true, force: true });
}
