// A thin, defensive connection to a D-Bus bus over dbus-next 0.10 (which is
// unmaintained). Invariants kept here so callers need not think about them:
// - the bus's 'error' event always has a listener; a dead stream marks the
//   connection closed and rejects every pending call at once;
// - every call has a timeout, so nothing waits forever on a silent bus;
// - a signal match is added at most once per connection (dbus-next's
//   RemoveMatch is broken, so matches are never removed) and signals are
//   dispatched from the low-level 'message' event, not proxy interfaces;
// - bus failures surface as KeelError E_SYSTEMD_UNAVAILABLE; D-Bus error
//   replies surface as BusCallError for the caller to map.

import dbus from 'dbus-next';
import { KeelError } from '../errors.ts';

const { Message, Variant, sessionBus } = dbus;

export const DEFAULT_SYSTEM_BUS_ADDRESS = 'unix:path=/run/dbus/system_bus_socket';

/** A D-Bus error reply (org.freedesktop.systemd1.NoSuchUnit, ...). */
export class BusCallError extends Error {
  override readonly name = 'BusCallError';
  readonly type: string;
  constructor(type: string, text: string) {
    super(text);
    this.type = type;
  }
}

export interface BusCall {
  readonly destination: string;
  readonly path: string;
  readonly interface: string;
  readonly member: string;
  readonly signature?: string | undefined;
  readonly body?: readonly unknown[] | undefined;
}

export interface BusSignal {
  readonly path: string;
  readonly interface: string;
  readonly member: string;
  readonly sender: string;
  readonly body: readonly unknown[];
}

type Pending = { reject(err: Error): void };

/** Minimal view of dbus-next internals we rely on (pinned at 0.10.2). */
interface RawBus {
  name: string | null;
  on(event: string, listener: (...args: unknown[]) => void): void;
  once(event: string, listener: (...args: unknown[]) => void): void;
  removeListener(event: string, listener: (...args: unknown[]) => void): void;
  call(msg: unknown): Promise<{ body: unknown[] } | null>;
  disconnect(): void;
  _connection?: { stream?: { on(event: string, l: (...a: unknown[]) => void): void; destroy?(): void } };
}

export function describeAddress(address: string): string {
  return address.replace(/^unix:path=/, '');
}

export class BusConnection {
  readonly address: string;
  readonly callTimeoutMs: number;
  #bus: RawBus;
  #closed: Error | undefined;
  #pending = new Set<Pending>();
  #matches = new Set<string>();
  #signalListeners = new Set<(signal: BusSignal) => void>();
  #closeListeners = new Set<(err: Error) => void>();

  private constructor(address: string, bus: RawBus, callTimeoutMs: number) {
    this.address = address;
    this.#bus = bus;
    this.callTimeoutMs = callTimeoutMs;
  }

  /** Connects and completes the Hello handshake, or throws E_SYSTEMD_UNAVAILABLE within timeoutMs. */
  static async open(address: string, timeoutMs: number): Promise<BusConnection> {
    if (!/^(unix:(path|abstract)=[^,;]+|tcp:.+)$/.test(address)) {
      throw new KeelError('E_SYSTEMD_UNAVAILABLE', `bus address ${JSON.stringify(address)} is not supported`, {
        hint: 'use unix:path=/run/dbus/system_bus_socket',
      });
    }
    let bus: RawBus;
    try {
      bus = sessionBus({ busAddress: address }) as unknown as RawBus;
    } catch (err) {
      throw unavailable(`connecting to the bus at ${describeAddress(address)}`, err, address);
    }
    const conn = new BusConnection(address, bus, timeoutMs);
    conn.#watch();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(unavailable(`connecting to the bus at ${describeAddress(address)}`, new Error(`no answer in ${timeoutMs} ms`), address));
      }, timeoutMs);
      const onConnect = (): void => {
        cleanup();
        resolve();
      };
      const onClose = (err: Error): void => {
        cleanup();
        reject(unavailable(`connecting to the bus at ${describeAddress(address)}`, err, address));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        bus.removeListener('connect', onConnect);
        conn.#closeListeners.delete(onClose);
      };
      bus.once('connect', onConnect);
      conn.#closeListeners.add(onClose);
    }).catch((err: unknown) => {
      conn.close();
      throw err;
    });
    return conn;
  }

  #watch(): void {
    const bus = this.#bus;
    bus.on('error', (err) => this.#markClosed(err instanceof Error ? err : new Error(String(err))));
    const stream = bus._connection?.stream;
    stream?.on('close', () => this.#markClosed(new Error('the bus connection was closed')));
    stream?.on('end', () => this.#markClosed(new Error('the bus closed the connection')));
    bus.on('message', (raw) => {
      const msg = raw as { type?: number; path?: string; interface?: string; member?: string; sender?: string; body?: unknown[] };
      if (msg.type !== 4 /* SIGNAL */) return;
      const signal: BusSignal = {
        path: msg.path ?? '',
        interface: msg.interface ?? '',
        member: msg.member ?? '',
        sender: msg.sender ?? '',
        body: msg.body ?? [],
      };
      for (const listener of this.#signalListeners) {
        try {
          listener(signal);
        } catch {
          // a listener's bug must not reach dbus-next, which would answer the signal with an error
        }
      }
    });
  }

  #markClosed(err: Error): void {
    if (this.#closed !== undefined) return;
    this.#closed = err;
    for (const p of this.#pending) p.reject(err);
    this.#pending.clear();
    for (const l of this.#closeListeners) l(err);
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Calls `member`; resolves to the reply body. Rejects with BusCallError or E_SYSTEMD_UNAVAILABLE. */
  async call(c: BusCall, timeoutMs = this.callTimeoutMs): Promise<unknown[]> {
    const action = `calling ${c.interface}.${c.member} on ${describeAddress(this.address)}`;
    if (this.#closed !== undefined) throw unavailable(action, this.#closed, this.address);
    const msg = new Message({
      destination: c.destination,
      path: c.path,
      interface: c.interface,
      member: c.member,
      ...(c.signature === undefined ? {} : { signature: c.signature, body: [...(c.body ?? [])] }),
    });
    return await new Promise<unknown[]>((resolve, reject) => {
      let settled = false;
      const pending: Pending = {
        reject: (err) => finish(() => reject(unavailable(action, err, this.address))),
      };
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#pending.delete(pending);
        fn();
      };
      const timer = setTimeout(
        () => finish(() => reject(unavailable(action, new Error(`no reply in ${timeoutMs} ms`), this.address))),
        timeoutMs,
      );
      this.#pending.add(pending);
      let sent: Promise<{ body: unknown[] } | null>;
      try {
        sent = this.#bus.call(msg);
      } catch (err) {
        pending.reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      sent.then(
        (reply) => finish(() => resolve(reply?.body ?? [])),
        (err: unknown) => {
          const e = err as { type?: unknown; text?: unknown; message?: unknown };
          if (typeof e?.type === 'string') {
            finish(() => reject(new BusCallError(e.type as string, String(e.text ?? e.message ?? ''))));
          } else if (this.#closed === undefined && !/closed/i.test(String((err as Error)?.message))) {
            // dbus-next failed locally (e.g. a value does not fit its signature): a keel bug
            finish(() =>
              reject(new KeelError('E_INTERNAL', `${action}: dbus-next could not send the call: ${String((err as Error)?.message ?? err)}`, { cause: err })),
            );
          } else {
            pending.reject(err instanceof Error ? err : new Error(String(err)));
          }
        },
      );
    });
  }

  /** Adds a match rule once per connection (never removed: dbus-next's RemoveMatch is broken). */
  async addMatch(rule: string): Promise<void> {
    if (this.#matches.has(rule)) return;
    await this.call({
      destination: 'org.freedesktop.DBus',
      path: '/org/freedesktop/DBus',
      interface: 'org.freedesktop.DBus',
      member: 'AddMatch',
      signature: 's',
      body: [rule],
    });
    this.#matches.add(rule);
  }

  onSignal(listener: (signal: BusSignal) => void): () => void {
    this.#signalListeners.add(listener);
    return () => this.#signalListeners.delete(listener);
  }

  /** Called once when the connection dies or is closed. */
  onClose(listener: (err: Error) => void): () => void {
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  close(): void {
    this.#markClosed(new Error('the connection was closed by keel'));
    try {
      this.#bus.disconnect();
    } catch {
      // already gone
    }
  }
}

export function variant(signature: string, value: unknown): unknown {
  return new Variant(signature, value);
}

/** Unwraps a dbus-next Variant (or returns the value as is). */
export function unvariant(value: unknown): unknown {
  return value instanceof Variant ? value.value : value;
}

function unavailable(action: string, cause: unknown, address: string): KeelError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new KeelError('E_SYSTEMD_UNAVAILABLE', `${action}: ${reason}`, {
    cause,
    detail: { address },
    hint: 'is systemd running with a system bus (dbus)? keel must run on a host booted with systemd, as root',
  });
}
