// The caps and bounds of the registry client, in one place so docs/registries.md
// and the tests can name them. Every in-memory body has a cap; every loop
// (retries, redirects, resumes) has a bound.

export { MAX_MANIFEST_BYTES } from '../oci/limits.ts';
export const MAX_TOKEN_BYTES = 1024 * 1024;
export const MAX_ERROR_BODY_BYTES = 1024 * 1024;
export const MAX_REDIRECTS = 5;
/** Range requests made for one blob after its body was cut short. */
export const MAX_RESUMES = 5;

export interface RetryPolicy {
  /** Tries of one request, the first included. */
  readonly attempts: number;
  /** Backoff before retry n (1-based) is random in [0, min(max, base * 2^(n-1))] plus base/2. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** A Retry-After longer than this is cut to it. */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 30_000,
});

export interface Timeouts {
  /** TCP + TLS connect. */
  readonly connectMs: number;
  /** From request sent to response headers complete. */
  readonly headersMs: number;
  /** Longest silence while a body is arriving. */
  readonly bodyIdleMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = Object.freeze({ connectMs: 15_000, headersMs: 60_000, bodyIdleMs: 60_000 });
