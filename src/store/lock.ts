// Cross-process locks for the store, without flock (Node has none).
//
// PROTOCOL (also in docs/store.md)
//
// Mutex `locks/<name>` is a DIRECTORY holding `owner.json`
// {pid, start, boot, nonce, lock, since}. To acquire, a process builds that
// directory complete under tmp/ and rename(2)s it to `locks/<name>`: rename of
// a directory onto an existing non-empty directory fails (ENOTEMPTY/EEXIST),
// so exactly one process wins and a lock is never seen without its owner.
// Release: rename the lock directory away into tmp/, then remove it.
//
// Staleness: a holder is dead when its pid is gone (or a zombie), when the pid's
// start time (/proc/PID/stat field 22) differs (pid reuse), or when the boot id
// differs (a previous boot). A waiter that finds a dead holder breaks the lock
// under a second mutex `locks/<name>.break`: holding it, it re-reads the owner,
// and only if the nonce is still the dead one it renames the lock away and
// removes it. Since a stale lock is never released by its owner and cannot be
// replaced by an acquirer (its directory is not empty), and breakers are
// serialised, a live lock is never broken. A dead `.break` holder is itself
// broken by rename-then-verify-nonce (renamed back if it turns out live); the
// residual race there needs a breaker killed during its few-millisecond break
// AND two other breakers racing, and even then costs one extra break.
//
// Shared/exclusive (`withShared`, `withExclusive`):
//   shared:    create `locks/shared/<token>.<n>.shared` (token = pid-start-boot),
//              THEN look at `locks/exclusive`; if a live holder is there, remove
//              the registration and wait; if a dead one, break it and retry.
//              Registrations of dead processes (a killed `keel check`) are
//              removed first, so they do not pile up until the next prune.
//   exclusive: take mutex `locks/exclusive`, THEN wait until no registration of
//              a live process remains in locks/shared (dead ones are removed).
// Each side writes before it reads what the other wrote, so they cannot both
// miss each other. A waiting exclusive holder keeps new shared holders out.
//
// Waits poll with exponential backoff and jitter (10 ms .. 500 ms); after the
// timeout they fail with E_STORE_LOCKED naming the holder's pid. The timeout
// counts from the holder's last progress: a holder whose work moves (an
// ingestion receiving bytes) calls `progress`, which touches its owner.json
// (at most once a second), and a waiter that sees that mtime advance starts its
// timeout again. A live holder that is stuck still times out its waiters. Locks are
// released when `fn` settles, and on process exit (synchronously); kill -9 is
// covered by staleness. Locks are not re-entrant: taking a mutex the current
// async context already holds (tracked with AsyncLocalStorage) is an
// E_INTERNAL error instead of a deadlock; the store never nests one lock in
// itself (ingest -> blob, ingest -> layer is the only nesting). The shared lock
// may be taken again inside itself or inside the exclusive lock (a no-op).
// Other async contexts of the same process wait like any other process would.

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeelError, errnoCode, fsError } from '../errors.ts';
import { currentOwner, ownerAlive, ownerOfName, uniqueName, type Owner } from '../layout/owner.ts';
import { reclaimDead } from '../layout/staging.ts';

interface OwnerRecord extends Owner {
  readonly nonce: string;
  readonly lock: string;
  readonly since: string;
}

const held = new AsyncLocalStorage<ReadonlySet<string>>();
const heldAtExit = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const path of heldAtExit) {
      try {
        rmSync(path, { recursive: true, force: true });
      } catch {
        // best effort: staleness covers what is left
      }
    }
  });
}

function lockedError(name: string, holder: Owner | undefined, waitedMs: number): KeelError {
  const who = holder ? `pid ${holder.pid}` : 'another process';
  return new KeelError('E_STORE_LOCKED', `timed out after ${Math.round(waitedMs / 1000)}s waiting for store lock "${name}" held by ${who}`, {
    detail: { lock: name, pid: holder?.pid },
    hint: holder ? `wait for keel process ${holder.pid} to finish, or stop it` : 'wait for the other keel process to finish',
  });
}

class Backoff {
  #delay = 10;
  #deadline: number;
  readonly #started = Date.now();
  readonly #timeoutMs: number;
  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    this.#deadline = this.#started + timeoutMs;
  }
  /** The holder made progress: the timeout counts from now. */
  renew(): void {
    this.#deadline = Date.now() + this.#timeoutMs;
  }
  get waited(): number {
    return Date.now() - this.#started;
  }
  get expired(): boolean {
    return Date.now() >= this.#deadline;
  }
  async wait(): Promise<void> {
    const ms = Math.min(this.#delay * (0.5 + Math.random()), Math.max(1, this.#deadline - Date.now()));
    this.#delay = Math.min(this.#delay * 1.5, 500);
    await sleep(ms);
  }
}

async function readOwner(lockDir: string): Promise<OwnerRecord | undefined> {
  try {
    const v = JSON.parse(await readFile(join(lockDir, 'owner.json'), 'utf8')) as Partial<OwnerRecord>;
    if (typeof v.pid !== 'number' || typeof v.start !== 'string' || typeof v.boot !== 'string' || typeof v.nonce !== 'string') {
      return { pid: 0, start: '', boot: '', nonce: 'invalid', lock: '', since: '' };
    }
    return v as OwnerRecord;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    if (err instanceof SyntaxError) return { pid: 0, start: '', boot: '', nonce: 'invalid', lock: '', since: '' };
    throw fsError(`reading lock owner in ${lockDir}`, err);
  }
}

/** How often a holder's `progress` touches its lock, at most. */
const PROGRESS_EVERY_MS = 1000;

/** The mtime of a lock's owner.json (its holder's last progress), or 0. */
async function progressMark(lockDir: string): Promise<number> {
  try {
    return (await stat(join(lockDir, 'owner.json'))).mtimeMs;
  } catch {
    return 0;
  }
}

export class StoreLocks {
  readonly dir: string;
  readonly tmpDir: string;
  readonly timeoutMs: number;

  constructor(dir: string, tmpDir: string, timeoutMs: number) {
    this.dir = dir;
    this.tmpDir = tmpDir;
    this.timeoutMs = timeoutMs;
  }

  #key(name: string): string {
    return `${this.dir}\0${name}`;
  }

  /** Whether the current async context already holds `name`. */
  holds(name: string): boolean {
    return held.getStore()?.has(this.#key(name)) ?? false;
  }

  #run<T>(names: string[], fn: () => Promise<T>): Promise<T> {
    const next = new Set(held.getStore());
    for (const n of names) next.add(this.#key(n));
    return held.run(next, fn);
  }

  /**
   * Runs fn holding the mutex `name` (a safe file name). fn may call
   * `progress` as its work advances (cheap: it touches the lock at most once a
   * second), so that waiters do not time out while it does (see the header).
   */
  async withLock<T>(name: string, fn: (progress: () => void) => Promise<T>): Promise<T> {
    if (this.holds(name)) throw new KeelError('E_INTERNAL', `store lock ${name} was taken again by its holder (locks are not re-entrant)`);
    const path = join(this.dir, name);
    await this.#acquire(path, name, new Backoff(this.timeoutMs), true);
    let touched = Date.now();
    const progress = (): void => {
      const now = Date.now();
      if (now - touched < PROGRESS_EVERY_MS) return;
      touched = now;
      utimes(join(path, 'owner.json'), now / 1000, now / 1000).catch(() => undefined); // best effort: waiters then time out as before
    };
    try {
      return await this.#run([name], () => fn(progress));
    } finally {
      await this.#release(path);
    }
  }

  async withShared<T>(fn: () => Promise<T>): Promise<T> {
    if (this.holds('exclusive') || this.holds('shared')) return fn();
    const reg = await this.#acquireShared();
    try {
      return await this.#run(['shared'], fn);
    } finally {
      heldAtExit.delete(reg);
      await rm(reg, { force: true }).catch(() => {});
    }
  }

  async withExclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.holds('exclusive')) return fn();
    if (this.holds('shared')) {
      throw new KeelError('E_INTERNAL', 'an exclusive store lock was requested while holding the shared lock (lock upgrade would deadlock)');
    }
    const path = join(this.dir, 'exclusive');
    const backoff = new Backoff(this.timeoutMs);
    await this.#acquire(path, 'exclusive', backoff, true);
    try {
      await this.#waitNoShared(backoff);
    } catch (err) {
      await this.#release(path);
      throw err;
    }
    try {
      return await this.#run(['exclusive'], fn);
    } finally {
      await this.#release(path);
    }
  }

  async #acquireShared(): Promise<string> {
    const backoff = new Backoff(this.timeoutMs);
    const sharedDir = join(this.dir, 'shared');
    const exclusive = join(this.dir, 'exclusive');
    installExitHook();
    await this.#removeDeadShared();
    for (;;) {
      const reg = join(sharedDir, uniqueName('shared'));
      try {
        await writeFile(reg, '', { flag: 'wx' });
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw fsError('registering a shared store lock', err);
        await mkdir(sharedDir, { recursive: true });
        continue;
      }
      heldAtExit.add(reg);
      const holder = await readOwner(exclusive);
      if (holder === undefined) return reg;
      heldAtExit.delete(reg);
      await unlink(reg).catch(() => {});
      if (!ownerAlive(holder)) {
        await this.#breakStale(exclusive, 'exclusive', holder.nonce);
        continue;
      }
      if (backoff.expired) throw lockedError('exclusive', holder, backoff.waited);
      await backoff.wait();
    }
  }

  /**
   * Removes shared registrations whose owner is dead. A name encodes its owner
   * (pid, start time, boot), and a dead owner never comes back, so removing
   * one can race only with another remover. Best effort: exclusive holders
   * remove them too.
   */
  async #removeDeadShared(): Promise<void> {
    await reclaimDead(join(this.dir, 'shared'), { bestEffort: true });
  }

  async #waitNoShared(backoff: Backoff): Promise<void> {
    const sharedDir = join(this.dir, 'shared');
    for (;;) {
      let names: string[];
      try {
        names = await readdir(sharedDir);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return;
        throw fsError('listing shared store locks', err);
      }
      let live: Owner | undefined;
      for (const name of names) {
        const owner = ownerOfName(name);
        if (owner === undefined) continue; // not a registration
        if (ownerAlive(owner)) live ??= owner;
        else await rm(join(sharedDir, name), { force: true });
      }
      if (live === undefined) return;
      if (backoff.expired) throw lockedError('shared', live, backoff.waited);
      await backoff.wait();
    }
  }

  /** Takes the mutex at `path`; `breakable` says whether stale holders are broken under `<name>.break`. */
  async #acquire(path: string, name: string, backoff: Backoff, breakable: boolean): Promise<OwnerRecord> {
    installExitHook();
    const me = currentOwner();
    const record: OwnerRecord = { ...me, nonce: randomBytes(12).toString('hex'), lock: name, since: new Date().toISOString() };
    const candidate = join(this.tmpDir, uniqueName('lock'));
    try {
      await mkdir(candidate);
      await writeFile(join(candidate, 'owner.json'), JSON.stringify(record));
    } catch (err) {
      await rm(candidate, { recursive: true, force: true });
      throw fsError(`preparing store lock ${name}`, err);
    }
    let seen: { nonce: string; mark: number } | undefined;
    try {
      for (;;) {
        try {
          await rename(candidate, path);
          heldAtExit.add(path);
          return record;
        } catch (err) {
          const code = errnoCode(err);
          if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw fsError(`taking store lock ${name}`, err);
        }
        const holder = await readOwner(path);
        if (holder === undefined) continue; // released between our rename and read
        if (!ownerAlive(holder)) {
          if (breakable) await this.#breakStale(path, name, holder.nonce);
          else await this.#breakByRename(path, holder.nonce);
          continue;
        }
        const mark = await progressMark(path);
        if (seen !== undefined && seen.nonce === holder.nonce && mark > seen.mark) backoff.renew();
        seen = { nonce: holder.nonce, mark };
        if (backoff.expired) throw lockedError(name, holder, backoff.waited);
        await backoff.wait();
      }
    } finally {
      await rm(candidate, { recursive: true, force: true }).catch(() => {});
    }
  }

  /** Removes the lock at `path` if it is still the dead holder `nonce`, serialised by `<name>.break`. */
  async #breakStale(path: string, name: string, nonce: string): Promise<void> {
    const breakPath = `${path}.break`;
    await this.#acquire(breakPath, `${name}.break`, new Backoff(this.timeoutMs), false);
    try {
      const holder = await readOwner(path);
      if (holder === undefined || holder.nonce !== nonce || ownerAlive(holder)) return;
      const trash = join(this.tmpDir, uniqueName('stale-lock'));
      try {
        await rename(path, trash);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return;
        throw fsError(`breaking stale store lock ${name}`, err);
      }
      await rm(trash, { recursive: true, force: true });
    } finally {
      await this.#release(breakPath);
    }
  }

  /** Last-level break: rename away, verify it was the dead one, put it back otherwise. */
  async #breakByRename(path: string, nonce: string): Promise<void> {
    const trash = join(this.tmpDir, uniqueName('stale-lock'));
    try {
      await rename(path, trash);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw fsError(`breaking stale store lock ${path}`, err);
    }
    const moved = await readOwner(trash);
    if (moved !== undefined && moved.nonce !== nonce && ownerAlive(moved)) {
      await rename(trash, path).catch(() => {});
    }
    await rm(trash, { recursive: true, force: true });
  }

  async #release(path: string): Promise<void> {
    heldAtExit.delete(path);
    const trash = join(this.tmpDir, uniqueName('released-lock'));
    try {
      await rename(path, trash);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw fsError(`releasing store lock ${path}`, err);
    }
    await rm(trash, { recursive: true, force: true });
  }
}
