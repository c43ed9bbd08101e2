// Backoff arithmetic and abortable sleeping for the retry loops in http.ts.
// Jitter keeps many keel hosts booting at once from retrying in lockstep.

import { KeelError } from '../errors.ts';
import type { RetryPolicy } from './limits.ts';

/** The delay before retry `retry` (1 = the first retry). */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(policy.baseDelayMs / 2 + random() * ceiling);
}

/**
 * Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when
 * absent or unparseable; capped at policy.maxRetryAfterMs.
 */
export function parseRetryAfter(value: string | string[] | undefined, policy: RetryPolicy, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const text = v.trim();
  let ms: number;
  if (/^[0-9]{1,9}$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = Math.max(0, at - now);
  }
  return Math.min(ms, policy.maxRetryAfterMs);
}

export function interrupted(cause?: unknown): KeelError {
  return new KeelError('E_INTERRUPTED', 'the registry operation was cancelled', cause === undefined ? {} : { cause });
}

/** Sleeps `ms`, rejecting with E_INTERRUPTED if `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(interrupted(signal.reason));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(interrupted(signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
