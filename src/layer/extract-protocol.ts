// The messages between the main thread and an extraction thread
// (extract-pool.ts <-> extract-thread.ts), and errors on the wire: a worker's
// KeelError arrives as a KeelError with the same code, message and hint; any
// other error keeps its name, message and errno code, so the receiving side
// classifies it exactly as it would have in one thread.

import { KeelError, type ErrorCode } from '../errors.ts';
import type { PhaseTotals } from '../util/phase-clock.ts';
import type { ExtractLayerOptions, LayerStats } from './extract.ts';

/** What crosses to the thread of ExtractLayerOptions (a signal cannot: it becomes an `abort` message). */
export type WireExtractOptions = Omit<ExtractLayerOptions, 'signal'>;

export type ToThread =
  | { readonly type: 'start'; readonly id: number; readonly dir: string; readonly options: WireExtractOptions; readonly timings: boolean }
  /** The next bytes of the layer's (compressed) stream; the thread owns the buffer. */
  | { readonly type: 'chunk'; readonly id: number; readonly chunk: Uint8Array }
  | { readonly type: 'end'; readonly id: number }
  /** The input failed (the network, the blob's own digest): the extraction fails with this error. */
  | { readonly type: 'fail'; readonly id: number; readonly error: WireError }
  /** The caller's signal fired: E_INTERRUPTED. */
  | { readonly type: 'abort'; readonly id: number };

export type FromThread =
  /** `bytes` of input were handed to the extractor: the main thread may send that much more. */
  | { readonly type: 'ack'; readonly id: number; readonly bytes: number }
  | { readonly type: 'done'; readonly id: number; readonly stats: LayerStats; readonly phases: PhaseTotals }
  | { readonly type: 'failed'; readonly id: number; readonly error: WireError; readonly phases: PhaseTotals };

export interface WireError {
  readonly keel: boolean;
  readonly name: string;
  readonly message: string;
  /** KeelError code, or a Node error's own code (ENOSPC, Z_DATA_ERROR, ERR_STREAM_PREMATURE_CLOSE). */
  readonly code?: string | undefined;
  readonly hint?: string | undefined;
  readonly detail?: Record<string, unknown> | undefined;
}

export function toWire(err: unknown): WireError {
  if (err instanceof KeelError) {
    return { keel: true, name: err.name, message: err.message, code: err.code, hint: err.hint, detail: plainDetail(err.detail) };
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { keel: false, name: err.name, message: err.message, code: typeof code === 'string' ? code : undefined };
  }
  return { keel: false, name: 'Error', message: String(err) };
}

export function fromWire(w: WireError): Error {
  if (w.keel) return new KeelError(w.code as ErrorCode, w.message, { ...(w.hint === undefined ? {} : { hint: w.hint }), ...(w.detail === undefined ? {} : { detail: w.detail }) });
  const err = new Error(w.message);
  err.name = w.name;
  if (w.code !== undefined) Object.assign(err, { code: w.code });
  return err;
}

/** A KeelError's detail as plain data (it is informational; whatever does not survive JSON is dropped). */
function plainDetail(detail: Readonly<Record<string, unknown>>): Record<string, unknown> | undefined {
  if (Object.keys(detail).length === 0) return undefined;
  try {
    return JSON.parse(JSON.stringify(detail)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
