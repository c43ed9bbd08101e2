// HTTP for the registry client: one request plus its redirects, and the
// bounded retry loop around it. Invariants:
//   - redirects are followed by hand, at most MAX_REDIRECTS, http(s) only, and
//     never from https down to http unless the target is loopback;
//   - the Authorization header goes only to `authOrigin` (the registry's own
//     origin); a redirect to any other origin (a CDN) is sent without it;
//   - every body that is not handed to the caller is dumped or destroyed, so
//     no socket is leaked;
//   - retries are bounded (policy.attempts), back off with jitter, honour a
//     capped Retry-After, and stop at once when the signal aborts.

import type { Dispatcher } from 'undici';
import { KeelError } from '../errors.ts';
import { isLoopbackRegistry } from '../oci/reference.ts';
import { readBounded, registryErrorMessage } from './bounded-body.ts';
import { MAX_ERROR_BODY_BYTES, MAX_REDIRECTS, type RetryPolicy, type Timeouts } from './limits.ts';
import { backoffDelay, interrupted, parseRetryAfter, sleep } from './retry.ts';

export type ResponseBody = Dispatcher.ResponseData['body'];

export interface HttpResponse {
  readonly status: number;
  readonly headers: Dispatcher.ResponseData['headers'];
  readonly body: ResponseBody;
  /** The URL that answered (after redirects). */
  readonly url: URL;
}

export interface FetchInit {
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly authorization?: string | undefined;
  /** The only origin the Authorization header may be sent to. */
  readonly authOrigin?: string | undefined;
  /** Tolerate TLS certificate errors (configured-insecure registries). */
  readonly insecureTls?: boolean | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** A failure worth retrying; `final` is thrown once the attempts are spent. */
export class RetryableError extends Error {
  readonly final: KeelError;
  readonly delayMs: number | undefined;
  /** A TLS handshake failed the way it does when the server speaks plain HTTP. */
  readonly plainHttpServer: boolean;

  constructor(final: KeelError, delayMs?: number, plainHttpServer = false) {
    super(final.message);
    this.final = final;
    this.delayMs = delayMs;
    this.plainHttpServer = plainHttpServer;
  }
}

export interface HttpSessionOptions {
  readonly dispatcher?: Dispatcher | undefined;
  readonly userAgent: string;
  readonly timeouts: Timeouts;
  readonly retry: RetryPolicy;
}

export class HttpSession {
  readonly userAgent: string;
  readonly timeouts: Timeouts;
  readonly retry: RetryPolicy;
  #dispatcher: Promise<Dispatcher> | undefined;
  #insecure: Promise<Dispatcher> | undefined;
  readonly #owned: Dispatcher[] = [];
  readonly #external: boolean;

  constructor(options: HttpSessionOptions) {
    this.userAgent = options.userAgent;
    this.timeouts = options.timeouts;
    this.retry = options.retry;
    this.#external = options.dispatcher !== undefined;
    if (options.dispatcher !== undefined) this.#dispatcher = Promise.resolve(options.dispatcher);
  }

  // undici is loaded on the first request, not with the module: it is ~180 ms
  // of startup, and most commands (boot, status, a pull from an archive) never
  // talk to a registry.
  async #own(insecure: boolean): Promise<Dispatcher> {
    const { Agent } = await import('undici');
    const agent = new Agent({
      connect: { timeout: this.timeouts.connectMs, ...(insecure ? { rejectUnauthorized: false } : {}) },
      headersTimeout: this.timeouts.headersMs,
      bodyTimeout: this.timeouts.bodyIdleMs,
    });
    this.#owned.push(agent);
    return agent;
  }

  #pick(insecureTls: boolean | undefined): Promise<Dispatcher> {
    if (!insecureTls || this.#external) return (this.#dispatcher ??= this.#own(false));
    this.#insecure ??= this.#own(true);
    return this.#insecure;
  }

  /**
   * GET `url` following redirects. Resolves with the first non-redirect
   * response whatever its status; rejects only on connection-level failures
   * (raw undici/node errors), bad redirects (KeelError) or abort.
   */
  async fetch(url: URL, init: FetchInit = {}): Promise<HttpResponse> {
    let current = url;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...init.headers };
      if (init.authorization !== undefined && init.authOrigin === current.origin) headers.authorization = init.authorization;
      const res = await (await this.#pick(init.insecureTls)).request({
        origin: current.origin,
        path: current.pathname + current.search,
        method: 'GET',
        headers,
        signal: init.signal ?? null,
        headersTimeout: this.timeouts.headersMs,
        bodyTimeout: this.timeouts.bodyIdleMs,
      });
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.statusCode) || location === undefined) {
        return { status: res.statusCode, headers: res.headers, body: res.body, url: current };
      }
      await discard(res.body);
      if (hop >= MAX_REDIRECTS) {
        throw new KeelError('E_REGISTRY_PROTOCOL', `${url.host}: more than ${MAX_REDIRECTS} redirects for ${url.pathname}`, { detail: { url: url.href } });
      }
      current = nextLocation(current, Array.isArray(location) ? (location[0] ?? '') : location);
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#dispatcher, this.#insecure]); // one may still be loading
    await Promise.all(this.#owned.map((d) => d.close()));
  }
}

function nextLocation(from: URL, location: string): URL {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new KeelError('E_REGISTRY_PROTOCOL', `${from.host}: redirect to an invalid location ${JSON.stringify(location.slice(0, 200))}`);
  }
  if (next.protocol !== 'https:' && next.protocol !== 'http:') {
    throw new KeelError('E_REGISTRY_PROTOCOL', `${from.host}: redirect to a non-HTTP location (${next.protocol})`);
  }
  if (from.protocol === 'https:' && next.protocol === 'http:' && !isLoopbackRegistry(next.host)) {
    throw new KeelError('E_REGISTRY_INSECURE', `${from.host}: redirect from https down to plain http://${next.host}; refused`, { detail: { location: next.href } });
  }
  next.hash = '';
  return next;
}

/** Drains a body we do not need (bounded), or destroys it. */
export async function discard(body: ResponseBody): Promise<void> {
  try {
    await body.dump({ limit: 64 * 1024 });
  } catch {
    body.destroy();
  }
}

/**
 * Turns a non-2xx response into the error to throw: 404 E_IMAGE_NOT_FOUND,
 * 401/403 E_REGISTRY_DENIED, 408/429/5xx retryable E_REGISTRY_UNAVAILABLE,
 * anything else E_REGISTRY_PROTOCOL with the registry's own message.
 */
export async function statusError(res: HttpResponse, what: string, policy: RetryPolicy): Promise<KeelError | RetryableError> {
  let message = '';
  try {
    message = registryErrorMessage(await readBounded(res.body, MAX_ERROR_BODY_BYTES, `error body of ${what}`, res.headers['content-length']));
  } catch {
    res.body.destroy();
  }
  const said = message === '' ? '' : `: ${message}`;
  const detail = { status: res.status, url: redact(res.url) };
  const s = res.status;
  if (s === 404) return new KeelError('E_IMAGE_NOT_FOUND', `${what}: not found (404)${said}`, { detail, hint: 'check the repository name, tag or digest' });
  if (s === 401 || s === 403) {
    return new KeelError('E_REGISTRY_DENIED', `${what}: access denied (${s})${said}`, {
      detail,
      hint: 'log in (podman login / docker login), or pass --authfile with credentials for this registry',
    });
  }
  if (s === 408 || s === 429 || (s >= 500 && s <= 599)) {
    const final = new KeelError('E_REGISTRY_UNAVAILABLE', `${what}: the registry kept answering ${s}${said}`, {
      detail,
      hint: 'the registry is overloaded or down; try again later, or configure a mirror',
    });
    return new RetryableError(final, parseRetryAfter(res.headers['retry-after'], policy));
  }
  return new KeelError('E_REGISTRY_PROTOCOL', `${what}: unexpected HTTP status ${s}${said}`, { detail });
}

const PLAIN_HTTP_TLS = /wrong version number|packet length too long|ERR_SSL_WRONG_VERSION_NUMBER|EPROTO/i;

/** Maps a raw connection-level failure to a retryable E_REGISTRY_UNREACHABLE, or E_INTERRUPTED. */
export function connectionError(err: unknown, url: URL, what: string, signal?: AbortSignal): KeelError | RetryableError {
  if (err instanceof KeelError) return err;
  if (signal?.aborted) return interrupted(signal.reason);
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : undefined;
  const reason = String(e.message ?? err);
  const causeText = `${String(e.cause?.message ?? '')} ${String(e.cause?.code ?? '')}`;
  const final = new KeelError('E_REGISTRY_UNREACHABLE', `${what}: cannot reach ${url.host}: ${reason}${code ? ` (${code})` : ''}`, {
    cause: err,
    detail: { url: redact(url), errno: code },
    hint: 'check the network, DNS and the registry address; configure a mirror if the registry is blocked',
  });
  return new RetryableError(final, undefined, url.protocol === 'https:' && PLAIN_HTTP_TLS.test(`${reason} ${code ?? ''} ${causeText}`));
}

/** A URL for messages: no credentials, no query (signed CDN URLs carry secrets there). */
export function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/**
 * Runs `attempt` until it resolves, a non-retryable error is thrown, or the
 * policy's attempts are spent (then the last RetryableError's `final`).
 * `onRetryable` may inspect each retryable failure and return true to retry
 * at once (e.g. after switching scheme).
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  signal: AbortSignal | undefined,
  attempt: (n: number) => Promise<T>,
  onRetryable?: (err: RetryableError) => boolean,
): Promise<T> {
  let last: RetryableError | undefined;
  for (let n = 1; n <= policy.attempts; n++) {
    if (signal?.aborted) throw interrupted(signal.reason);
    try {
      return await attempt(n);
    } catch (err) {
      if (!(err instanceof RetryableError)) throw err;
      last = err;
      if (onRetryable?.(err) === true) continue;
      if (n < policy.attempts) await sleep(err.delayMs ?? backoffDelay(policy, n), signal);
    }
  }
  throw (last as RetryableError).final;
}
