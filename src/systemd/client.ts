// SystemdClient: systemd's Manager API over D-Bus, as keel needs it.
// Invariants:
// - Subscribe and the JobRemoved match are set up once per connection and
//   BEFORE the first job is started, and a JobRemoved that arrives before the
//   call's reply is kept, so a fast job can never be missed;
// - every call and every job wait has a timeout; a dead or absent bus is
//   E_SYSTEMD_UNAVAILABLE, never a hang or a crash;
// - a job that ends other than "done" throws its own code (map-errors.ts)
//   with the unit's ActiveState/SubState/Result in `detail`;
// - 64-bit values from the bus (BigInt) are converted with range checks.

import { KeelError, isKeelError } from '../errors.ts';
import { BusConnection, DEFAULT_SYSTEM_BUS_ADDRESS, describeAddress, unvariant, variant, type BusSignal } from './bus.ts';
import { jobResultCode, mapBusError } from './map-errors.ts';
import type { UnitProperties } from './properties.ts';
import { parseUnitName, unitObjectPath } from './unit-name.ts';

const SYSTEMD = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const PROPERTIES = 'org.freedesktop.DBus.Properties';
/** How many StartTransientUnit calls are on the bus at once (dbus-daemon's max_replies_per_connection is 128). */
const CREATE_WINDOW = 64;
const JOB_REMOVED_MATCH = `type='signal',sender='${SYSTEMD}',path='${MANAGER_PATH}',interface='${MANAGER}',member='JobRemoved'`;
/** How many JobRemoved results nobody waits for (yet) are remembered. */
const FINISHED_JOBS_KEPT = 512;

export interface SystemdClientOptions {
  /** D-Bus address; default $DBUS_SYSTEM_BUS_ADDRESS or unix:path=/run/dbus/system_bus_socket. */
  address?: string | undefined;
  /** Timeout of each D-Bus call, and of connecting (default 25 s, the D-Bus default). */
  callTimeoutMs?: number | undefined;
  /** How long to wait for a job's JobRemoved (default 5 min); per call overridable. */
  jobTimeoutMs?: number | undefined;
}

export type JobMode = 'replace' | 'fail';

export interface StartTransientOptions {
  /** Job mode (default "fail": never replace a queued job of another client). */
  mode?: JobMode | undefined;
  /** Auxiliary transient units created (not started) in the same call. */
  aux?: ReadonlyArray<{ readonly name: string; readonly properties: UnitProperties }> | undefined;
  jobTimeoutMs?: number | undefined;
}

export interface JobOptions {
  mode?: JobMode | undefined;
  jobTimeoutMs?: number | undefined;
}

export interface UnitState {
  readonly name: string;
  /** loaded, not-found, masked, error, bad-setting, merged, stub */
  readonly loadState: string;
  readonly activeState: string;
  readonly subState: string;
  /** The service's Result (success, exit-code, signal, timeout, ...); undefined for non-services. */
  readonly result: string | undefined;
  /** 0 when there is no main process. */
  readonly mainPid: number;
  readonly execMainCode: number | undefined;
  readonly execMainStatus: number | undefined;
  readonly activeEnterTimestamp: Date | undefined;
  readonly inactiveEnterTimestamp: Date | undefined;
  readonly nRestarts: number;
  /** The unit file; "" for transient units. */
  readonly fragmentPath: string;
  readonly transient: boolean;
  readonly description: string;
  readonly controlGroup: string;
  /** Units that Require=/BindsTo= this one (reverse dependencies systemd tracks). */
  readonly requiredBy: readonly string[];
  /** Units that Wants= this one. */
  readonly wantedBy: readonly string[];
  /** Units this one is ordered before (its own Before= and others' After= on it). */
  readonly before: readonly string[];
  /** True while a job for the unit is queued or running. */
  readonly hasJob: boolean;
}

/** A job systemd has queued; `done` settles when its JobRemoved arrives (never rejects unhandled). */
export interface PendingJob {
  readonly unit: string;
  /** The job's object path; "" when no job was needed (the unit was already in the wanted state). */
  readonly job: string;
  readonly done: Promise<JobOutcome>;
}

export interface JobOutcome {
  readonly unit: string;
  readonly job: string;
  /** Always "done" (other results throw). */
  readonly jobResult: 'done';
  readonly state: UnitState | undefined;
  readonly elapsedMs: number;
}

interface FinishedJob {
  readonly unit: string;
  readonly result: string;
  /** Order of arrival (JobRemoved signals seen on this connection). */
  readonly seq: number;
}

interface JobWaiter {
  finish(job: FinishedJob): void;
}

function str(value: unknown): string {
  const v = unvariant(value);
  return typeof v === 'string' ? v : '';
}

function strings(value: unknown): string[] {
  const v = unvariant(value);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The id of a unit's Job property ((uo): 0 when there is none). */
function jobId(value: unknown): number {
  const v = unvariant(value);
  if (!Array.isArray(v)) return 0;
  const id = v[0];
  return typeof id === 'number' ? id : typeof id === 'bigint' ? Number(id) : 0;
}

function num(value: unknown): number {
  const v = unvariant(value);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') {
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.POSITIVE_INFINITY; // UINT64_MAX means "infinity"
    return Number(v);
  }
  return 0;
}

/** A realtime timestamp in microseconds since the epoch; 0 means "never". */
export function usecToDate(value: unknown): Date | undefined {
  const v = unvariant(value);
  if (typeof v !== 'bigint' || v <= 0n || v >= (1n << 63n)) return undefined;
  return new Date(Number(v / 1000n));
}

function checkMode(mode: JobMode): JobMode {
  if (mode !== 'replace' && mode !== 'fail') {
    throw new KeelError('E_INTERNAL', `job mode ${JSON.stringify(mode)} is not replace or fail`);
  }
  return mode;
}

export class SystemdClient {
  readonly address: string;
  readonly jobTimeoutMs: number;
  #conn: BusConnection;
  #subscribed: Promise<void> | undefined;
  #waiters = new Map<string, JobWaiter>();
  #finished = new Map<string, FinishedJob>();
  #seq = 0;

  private constructor(conn: BusConnection, jobTimeoutMs: number) {
    this.#conn = conn;
    this.address = conn.address;
    this.jobTimeoutMs = jobTimeoutMs;
    conn.onSignal((signal) => this.#onSignal(signal));
  }

  static async connect(options: SystemdClientOptions = {}): Promise<SystemdClient> {
    const address = options.address ?? process.env['DBUS_SYSTEM_BUS_ADDRESS'] ?? DEFAULT_SYSTEM_BUS_ADDRESS;
    const callTimeoutMs = options.callTimeoutMs ?? 25_000;
    const jobTimeoutMs = options.jobTimeoutMs ?? 300_000;
    const conn = await BusConnection.open(address, callTimeoutMs);
    const client = new SystemdClient(conn, jobTimeoutMs);
    try {
      // Fails fast (ServiceUnknown) on a bus without systemd.
      await client.#manager('GetDefaultTarget', 'checking that systemd answers on the bus');
    } catch (err) {
      conn.close();
      if (isKeelError(err, 'E_SYSTEMD_REFUSED')) {
        throw new KeelError('E_SYSTEMD_UNAVAILABLE', err.message, { cause: err, detail: { address } });
      }
      throw err;
    }
    return client;
  }

  async close(): Promise<void> {
    this.#conn.close();
  }

  // ---- jobs ---------------------------------------------------------------

  /** Creates and starts a transient unit; resolves when its start job is "done". */
  async startTransientUnit(name: string, properties: UnitProperties, options: StartTransientOptions = {}): Promise<JobOutcome> {
    parseUnitName(name, {}, 'transient unit name');
    const aux = (options.aux ?? []).map((u) => {
      parseUnitName(u.name, {}, 'auxiliary unit name');
      return [u.name, this.#encode(u.properties)];
    });
    const mode = checkMode(options.mode ?? 'fail');
    return this.#runJob(name, 'starting', 'StartTransientUnit', 'ssa(sv)a(sa(sv))', [name, mode, this.#encode(properties), aux], options.jobTimeoutMs);
  }

  /**
   * Creates `service` and a keep-alive `slice` whose Wants= names it in ONE
   * call, and starts the slice (which starts the service): the service is
   * referenced from its first instant, so systemd cannot collect it even if
   * its process exits at once. Resolves when the jobs are queued; `done`
   * settles with the service's own start job.
   */
  async enqueueStartWithKeepAlive(
    service: string, properties: UnitProperties, slice: string, sliceProperties: UnitProperties, options: JobOptions = {},
  ): Promise<PendingJob> {
    const [r] = await this.enqueueStartsWithKeepAlive([{ service, properties, slice, sliceProperties }], options);
    if (r === undefined || r.status === 'rejected') throw r?.reason ?? new KeelError('E_INTERNAL', `starting ${service}: no result`);
    return r.value;
  }

  /**
   * enqueueStartWithKeepAlive for several services at once: the calls are
   * sent back to back in the given order without waiting for each reply
   * (systemd reads them in that order, so a unit exists before a later one
   * that requires it is created), then each one's job is looked up. One
   * refused call fails only its own entry.
   */
  async enqueueStartsWithKeepAlive(
    items: ReadonlyArray<{ readonly service: string; readonly properties: UnitProperties; readonly slice: string; readonly sliceProperties: UnitProperties }>,
    options: JobOptions = {},
  ): Promise<Array<PromiseSettledResult<PendingJob>>> {
    const mode = checkMode(options.mode ?? 'fail');
    for (const it of items) {
      parseUnitName(it.service, {}, 'transient unit name');
      parseUnitName(it.slice, { types: ['slice'] }, 'keep-alive slice name');
    }
    await this.#subscribe();
    const mark = this.#seq;
    const started = performance.now();
    // Sent in windows of CREATE_WINDOW calls, without awaiting inside a window (the bus daemon
    // allows a connection 128 pending replies by default): in order, and systemd reads them in order.
    const sent: Array<Promise<unknown>> = [];
    for (let i = 0; i < items.length; i += CREATE_WINDOW) {
      const window = items.slice(i, i + CREATE_WINDOW).map((it) => this.#manager('StartTransientUnit', `starting ${it.service}`, 'ssa(sv)a(sa(sv))',
        [it.slice, mode, this.#encode(it.sliceProperties), [[it.service, this.#encode(it.properties)]]], it.service));
      sent.push(...window);
      await Promise.allSettled(window);
    }
    return Promise.allSettled(items.map(async (it, i) => {
      await sent[i];
      return this.#indirectJob(it.service, 'starting', mark, started, options.jobTimeoutMs);
    }));
  }

  /** Starts `unit`; when it pulls in `follower` (Wants=), returns the follower's job instead. */
  async enqueueStartFollowing(unit: string, follower: string, options: JobOptions = {}): Promise<PendingJob> {
    parseUnitName(unit);
    parseUnitName(follower);
    await this.#subscribe();
    const mark = this.#seq;
    const started = performance.now();
    await this.#manager('StartUnit', `starting ${unit}`, 'ss', [unit, checkMode(options.mode ?? 'replace')], unit);
    return this.#indirectJob(follower, 'starting', mark, started, options.jobTimeoutMs);
  }

  /** Creates and starts a transient unit, returning once the job is queued (its job may wait on others). */
  async enqueueTransient(name: string, properties: UnitProperties, options: JobOptions = {}): Promise<PendingJob> {
    parseUnitName(name, {}, 'transient unit name');
    const mode = checkMode(options.mode ?? 'fail');
    return this.#enqueueJob(name, 'starting', 'StartTransientUnit', 'ssa(sv)a(sa(sv))', [name, mode, this.#encode(properties), []], options.jobTimeoutMs);
  }

  /** Queues a start/stop/restart job and returns at once; `done` settles with the job. */
  async enqueue(kind: 'start' | 'stop' | 'restart', name: string, options: JobOptions = {}): Promise<PendingJob> {
    const member = { start: 'StartUnit', stop: 'StopUnit', restart: 'RestartUnit' }[kind];
    const verb = { start: 'starting', stop: 'stopping', restart: 'restarting' }[kind];
    parseUnitName(name);
    const mode = checkMode(options.mode ?? 'replace');
    return this.#enqueueJob(name, verb, member, 'ss', [name, mode], options.jobTimeoutMs);
  }

  async startUnit(name: string, options: JobOptions = {}): Promise<JobOutcome> {
    return this.#simpleJob('StartUnit', 'starting', name, options);
  }

  async stopUnit(name: string, options: JobOptions = {}): Promise<JobOutcome> {
    return this.#simpleJob('StopUnit', 'stopping', name, options);
  }

  async restartUnit(name: string, options: JobOptions = {}): Promise<JobOutcome> {
    return this.#simpleJob('RestartUnit', 'restarting', name, options);
  }

  async resetFailedUnit(name: string): Promise<void> {
    parseUnitName(name);
    await this.#manager('ResetFailedUnit', `resetting the failed state of ${name}`, 's', [name], name);
  }

  // ---- state --------------------------------------------------------------

  /** The unit's state; loadState "not-found" when systemd has no such unit. */
  async getUnitState(name: string): Promise<UnitState> {
    parseUnitName(name);
    const action = `reading the state of ${name}`;
    // The unit's object path loads it as LoadUnit would (what systemctl show does);
    // both interfaces are asked at once.
    const path = unitObjectPath(name);
    const [unit, service] = await Promise.all([
      this.#getAll(path, 'org.freedesktop.systemd1.Unit', action, name),
      name.endsWith('.service') ? this.#getAll(path, 'org.freedesktop.systemd1.Service', action, name) : Promise.resolve({} as Record<string, unknown>),
    ]);
    const has = (k: string): boolean => Object.hasOwn(service, k);
    return Object.freeze({
      name,
      loadState: str(unit['LoadState']),
      activeState: str(unit['ActiveState']),
      subState: str(unit['SubState']),
      result: has('Result') ? str(service['Result']) : undefined,
      mainPid: num(service['MainPID']),
      execMainCode: has('ExecMainCode') ? num(service['ExecMainCode']) : undefined,
      execMainStatus: has('ExecMainStatus') ? num(service['ExecMainStatus']) : undefined,
      activeEnterTimestamp: usecToDate(unit['ActiveEnterTimestamp']),
      inactiveEnterTimestamp: usecToDate(unit['InactiveEnterTimestamp']),
      nRestarts: num(service['NRestarts']),
      fragmentPath: str(unit['FragmentPath']),
      transient: unvariant(unit['Transient']) === true,
      description: str(unit['Description']),
      controlGroup: str(service['ControlGroup']),
      requiredBy: [...strings(unit['RequiredBy']), ...strings(unit['BoundBy'])],
      wantedBy: strings(unit['WantedBy']),
      before: strings(unit['Before']),
      hasJob: jobId(unit['Job']) !== 0,
    });
  }

  /** True when systemd knows a unit of this name (loaded, masked, or a unit file on disk). */
  async unitExists(name: string): Promise<boolean> {
    const state = await this.getUnitState(name);
    return state.loadState !== 'not-found';
  }

  /** True when the unit exists and is transient (created over the bus, as keel does). */
  async isTransient(name: string): Promise<boolean> {
    const state = await this.getUnitState(name);
    return state.loadState !== 'not-found' && state.transient;
  }

  // ---- internals ----------------------------------------------------------

  #encode(properties: UnitProperties): unknown[] {
    return properties.map((p) => [p.name, variant(p.signature, p.value)]);
  }

  async #manager(member: string, action: string, signature?: string, body?: unknown[], unit?: string): Promise<unknown[]> {
    try {
      return await this.#conn.call({ destination: SYSTEMD, path: MANAGER_PATH, interface: MANAGER, member, signature, body });
    } catch (err) {
      throw mapBusError(action, err, unit);
    }
  }

  async #getAll(path: string, iface: string, action: string, unit: string): Promise<Record<string, unknown>> {
    try {
      const [dict] = await this.#conn.call({ destination: SYSTEMD, path, interface: PROPERTIES, member: 'GetAll', signature: 's', body: [iface] });
      return typeof dict === 'object' && dict !== null ? (dict as Record<string, unknown>) : {};
    } catch (err) {
      throw mapBusError(action, err, unit);
    }
  }

  async #get(path: string, iface: string, property: string, action: string, unit: string): Promise<unknown> {
    try {
      const [value] = await this.#conn.call({ destination: SYSTEMD, path, interface: PROPERTIES, member: 'Get', signature: 'ss', body: [iface, property] });
      return value;
    } catch (err) {
      throw mapBusError(action, err, unit);
    }
  }

  async #subscribe(): Promise<void> {
    this.#subscribed ??= (async () => {
      await this.#conn.addMatch(JOB_REMOVED_MATCH).catch((err: unknown) => {
        throw mapBusError('subscribing to systemd job signals', err);
      });
      await this.#manager('Subscribe', 'subscribing to systemd job signals');
    })();
    try {
      await this.#subscribed;
    } catch (err) {
      this.#subscribed = undefined;
      throw err;
    }
  }

  #onSignal(signal: BusSignal): void {
    if (signal.interface !== MANAGER || signal.member !== 'JobRemoved' || signal.path !== MANAGER_PATH) return;
    const [, job, unit, result] = signal.body;
    if (typeof job !== 'string' || typeof unit !== 'string' || typeof result !== 'string') return;
    const finished = { unit, result, seq: ++this.#seq };
    const waiter = this.#waiters.get(job);
    if (waiter !== undefined) {
      waiter.finish(finished);
      return;
    }
    // The reply to our call may still be on its way: remember the result.
    this.#finished.set(job, finished);
    if (this.#finished.size > FINISHED_JOBS_KEPT) {
      const oldest = this.#finished.keys().next().value;
      if (oldest !== undefined) this.#finished.delete(oldest);
    }
  }

  #waitJob(job: string, unit: string, verb: string, timeoutMs: number): Promise<FinishedJob> {
    const early = this.#finished.get(job);
    if (early !== undefined) {
      this.#finished.delete(job);
      return Promise.resolve(early);
    }
    return new Promise<FinishedJob>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(job);
        offClose();
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new KeelError('E_UNIT_TIMEOUT', `${verb} ${unit}: keel stopped waiting for job ${job} after ${timeoutMs} ms; it may still be running`, {
            detail: { unit, job, source: 'keel', timeoutMs },
            hint: `systemctl list-jobs; systemctl status ${unit}`,
          }),
        );
      }, timeoutMs);
      const offClose = this.#conn.onClose((err) => {
        done();
        reject(
          new KeelError('E_SYSTEMD_UNAVAILABLE', `${verb} ${unit}: the bus at ${describeAddress(this.address)} went away while waiting for job ${job}: ${err.message}`, {
            cause: err,
            detail: { unit, job, address: this.address },
            hint: `the job may have completed; check systemctl status ${unit} and run the command again`,
          }),
        );
      });
      this.#waiters.set(job, {
        finish: (finished) => {
          done();
          resolve(finished);
        },
      });
    });
  }

  async #simpleJob(member: string, verb: string, name: string, options: JobOptions): Promise<JobOutcome> {
    parseUnitName(name);
    const mode = checkMode(options.mode ?? 'replace');
    return this.#runJob(name, verb, member, 'ss', [name, mode], options.jobTimeoutMs);
  }

  async #runJob(unit: string, verb: string, member: string, signature: string, body: unknown[], jobTimeoutMs: number | undefined): Promise<JobOutcome> {
    return (await this.#enqueueJob(unit, verb, member, signature, body, jobTimeoutMs)).done;
  }

  async #enqueueJob(unit: string, verb: string, member: string, signature: string, body: unknown[], jobTimeoutMs: number | undefined): Promise<PendingJob> {
    const started = performance.now();
    await this.#subscribe();
    const [job] = await this.#manager(member, `${verb} ${unit}`, signature, body, unit);
    if (typeof job !== 'string') throw new KeelError('E_SYSTEMD_REFUSED', `${verb} ${unit}: ${member} returned no job`);
    return this.#pending(unit, job, this.#finishJob(unit, verb, job, started, jobTimeoutMs));
  }

  #pending(unit: string, job: string, done: Promise<JobOutcome>): PendingJob {
    done.catch(() => undefined); // settled by whoever awaits it; never an unhandled rejection
    return Object.freeze({ unit, job, done });
  }

  /**
   * The job another call queued for `unit` (a Wants= of the unit that was
   * started): the unit's Job property while it runs, else its JobRemoved seen
   * since `mark` (a signal sent before our call's reply arrives before it on
   * the same connection), else no job was needed.
   */
  async #indirectJob(unit: string, verb: string, mark: number, started: number, jobTimeoutMs: number | undefined): Promise<PendingJob> {
    const action = `reading the job of ${unit}`;
    const raw = unvariant(await this.#get(unitObjectPath(unit), 'org.freedesktop.systemd1.Unit', 'Job', action, unit));
    const job = Array.isArray(raw) && typeof raw[1] === 'string' && jobId(raw) !== 0 ? raw[1] : undefined;
    if (job !== undefined) return this.#pending(unit, job, this.#finishJob(unit, verb, job, started, jobTimeoutMs));
    for (const [id, f] of this.#finished) {
      if (f.unit === unit && f.seq > mark) return this.#pending(unit, id, this.#finishJob(unit, verb, id, started, jobTimeoutMs));
    }
    const state = await this.getUnitState(unit);
    return this.#pending(unit, '', Promise.resolve(Object.freeze({ unit, job: '', jobResult: 'done' as const, state, elapsedMs: Math.round(performance.now() - started) })));
  }

  async #finishJob(unit: string, verb: string, job: string, started: number, jobTimeoutMs: number | undefined): Promise<JobOutcome> {
    const finished = await this.#waitJob(job, unit, verb, jobTimeoutMs ?? this.jobTimeoutMs);
    let state: UnitState | undefined;
    try {
      state = await this.getUnitState(unit);
    } catch (err) {
      if (finished.result === 'done' || !isKeelError(err, 'E_UNIT_NOT_FOUND')) throw err;
    }
    const elapsedMs = Math.round(performance.now() - started);
    if (finished.result === 'done') {
      return Object.freeze({ unit, job, jobResult: 'done' as const, state, elapsedMs });
    }
    // A start that hits TimeoutStartSec= ends the job "failed" with the service's Result "timeout".
    const code = finished.result === 'failed' && state?.result === 'timeout' ? 'E_UNIT_TIMEOUT' : jobResultCode(finished.result);
    const how = state === undefined ? '' : `; the unit is ${state.activeState} (${state.subState}${state.result ? `, result ${state.result}` : ''})`;
    throw new KeelError(code, `${verb} ${unit}: job ended with result "${finished.result}"${how}`, {
      detail: {
        unit,
        job,
        jobResult: finished.result,
        activeState: state?.activeState,
        subState: state?.subState,
        result: state?.result,
        execMainStatus: state?.execMainStatus,
      },
      hint: `journalctl -u ${unit} shows why`,
    });
  }
}
