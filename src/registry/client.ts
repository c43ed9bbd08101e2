// The OCI distribution v2 pull client. It fetches manifests (capped, verified
// against the digest asked by) and opens blobs as verified, resumable streams.
// It never writes to disk (it reads only auth files). Per request it tries the registry's mirrors in order,
// then the registry; within one endpoint it retries (bounded, with backoff),
// answers auth challenges once, and follows redirects without carrying
// credentials to other origins. Foreign layer URLs are fetched without any
// credentials, with the registry as fallback.

import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { KeelConfig } from '../config/index.ts';
import { isKeelError, KeelError } from '../errors.ts';
import { digestAlgorithm, digestOf, isDigest, parseDigest, type Digest } from '../oci/digest.ts';
import { INDEX_TYPES, MANIFEST_ACCEPT, MANIFEST_TYPES } from '../oci/media-types.ts';
import type { Descriptor, FetchedManifest } from '../oci/types.ts';
import { NO_CREDENTIALS, type CredentialStore } from './auth-file.ts';
import { AuthManager, type AuthTarget } from './auth.ts';
import { verifiedBlobStream } from './blob-stream.ts';
import { readBounded } from './bounded-body.ts';
import { assertPlainHttpAllowed, endpointsFor, type Endpoint } from './endpoint.ts';
import { connectionError, discard, HttpSession, redact, RetryableError, statusError, withRetries, type HttpResponse } from './http.ts';
import { DEFAULT_RETRY, DEFAULT_TIMEOUTS, MAX_MANIFEST_BYTES, MAX_RESUMES, type RetryPolicy, type Timeouts } from './limits.ts';
import { defaultUserAgent } from './user-agent.ts';
import { pickChallenge } from './www-authenticate.ts';

export interface RegistryClientOptions {
  readonly config: KeelConfig;
  readonly credentials?: CredentialStore | undefined;
  readonly userAgent?: string | undefined;
  /** An undici dispatcher to use instead of keel's own Agent (tests). */
  readonly dispatcher?: Dispatcher | undefined;
  readonly retry?: Partial<RetryPolicy> | undefined;
  readonly timeouts?: Partial<Timeouts> | undefined;
  /** Range requests allowed per blob after bodies are cut short. */
  readonly maxResumes?: number | undefined;
}


export interface OpenBlobOptions {
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((bytes: number) => void) | undefined;
}

export class RegistryClient {
  readonly #config: KeelConfig;
  readonly #http: HttpSession;
  readonly #auth: AuthManager;
  readonly #maxResumes: number;
  /** Endpoint name -> index into its schemes that worked (or is being tried). */
  readonly #scheme = new Map<string, number>();

  constructor(options: RegistryClientOptions) {
    this.#config = options.config;
    this.#http = new HttpSession({
      dispatcher: options.dispatcher,
      userAgent: options.userAgent ?? defaultUserAgent(),
      timeouts: { ...DEFAULT_TIMEOUTS, ...options.timeouts },
      retry: { ...DEFAULT_RETRY, ...options.retry },
    });
    this.#auth = new AuthManager(this.#http, options.credentials ?? NO_CREDENTIALS);
    this.#maxResumes = options.maxResumes ?? MAX_RESUMES;
  }

  /**
   * The manifest or index `reference` (a tag or a digest) names. By digest,
   * the bytes must hash to it; by tag, they must match Docker-Content-Digest
   * when the registry sends a valid one. At most MAX_MANIFEST_BYTES are read.
   */
  async getManifest(registry: string, repository: string, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const expected = isDigest(reference) ? reference : undefined;
    const name = `${registry}/${repository}${expected ? `@${reference}` : `:${reference}`}`;
    const what = `manifest of ${name}`;
    return this.#acrossEndpoints(registry, signal, (ep) =>
      this.#registryGet(ep, repository, `/v2/${repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT }, what, signal, async (res) => {
        const bytes = await readBounded(res.body, MAX_MANIFEST_BYTES, what, res.headers['content-length']);
        const digest = digestOf(bytes);
        if (expected !== undefined) {
          checkDigest(bytes, expected, what, res);
        } else {
          const header = firstHeader(res.headers['docker-content-digest']);
          if (header !== undefined && isDigest(header)) checkDigest(bytes, parseDigest(header), `${what} (Docker-Content-Digest)`, res);
        }
        return Object.freeze({ bytes, mediaType: manifestMediaType(firstHeader(res.headers['content-type']), bytes), digest });
      }),
    );
  }

  /**
   * A stream of the blob's bytes, verified against the descriptor's size and
   * digest while it flows; errors (E_DIGEST_MISMATCH, E_SIZE_MISMATCH,
   * E_REGISTRY_UNAVAILABLE, E_INTERRUPTED, ...) surface on the stream.
   * Resolves once a source has answered with the body's headers.
   */
  async openBlob(registry: string, repository: string, descriptor: Descriptor, options: OpenBlobOptions = {}): Promise<Readable> {
    const digest = parseDigest(descriptor.digest);
    const { signal } = options;
    const what = `blob ${digest} of ${registry}/${repository}`;
    const expected = { digest, size: descriptor.size, what };
    const resume = { signal, onProgress: options.onProgress, maxResumes: this.#maxResumes };

    for (const raw of descriptor.urls ?? []) {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        continue;
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') continue;
      try {
        const reopen = (offset: number): Promise<HttpResponse> => this.#foreignGet(url, offset, what, signal);
        const first = await reopen(0);
        checkLength(first, descriptor.size, what);
        return verifiedBlobStream(first, reopen, expected, resume);
      } catch (err) {
        if (signal?.aborted || isKeelError(err, 'E_INTERRUPTED')) throw err;
        // fall back to the next URL, then the registry
      }
    }

    return this.#acrossEndpoints(registry, signal, async (ep) => {
      const path = `/v2/${repository}/blobs/${digest}`;
      const reopen = (offset: number): Promise<HttpResponse> =>
        this.#registryGet(ep, repository, path, offset > 0 ? { range: `bytes=${offset}-` } : {}, what, signal, async (res) => res);
      const first = await reopen(0);
      try {
        checkLength(first, descriptor.size, what);
      } catch (err) {
        first.body.destroy();
        throw err;
      }
      return verifiedBlobStream(first, reopen, expected, resume);
    });
  }

  async close(): Promise<void> {
    await this.#http.close();
  }

  /** Tries each endpoint (mirrors first); a failing mirror falls through, the registry's error is final. */
  async #acrossEndpoints<T>(registry: string, signal: AbortSignal | undefined, fn: (ep: Endpoint) => Promise<T>): Promise<T> {
    const endpoints = endpointsFor(registry, this.#config);
    for (const ep of endpoints) {
      try {
        return await fn(ep);
      } catch (err) {
        if (!ep.mirror || signal?.aborted || isKeelError(err, 'E_INTERRUPTED')) throw err;
      }
    }
    throw new KeelError('E_INTERNAL', `no endpoint for ${registry}`);
  }

  #baseUrl(ep: Endpoint): URL {
    const index = this.#scheme.get(ep.name) ?? 0;
    return new URL(`${ep.schemes[index] ?? 'https'}://${ep.apiHost}`);
  }

  /**
   * One GET against a registry endpoint with retries, auth and redirects.
   * `handle` runs inside the retry loop on a 2xx response, so a manifest body
   * cut short is fetched again.
   */
  async #registryGet<T>(
    ep: Endpoint,
    repository: string,
    path: string,
    headers: Readonly<Record<string, string>>,
    what: string,
    signal: AbortSignal | undefined,
    handle: (res: HttpResponse) => Promise<T>,
  ): Promise<T> {
    const scope = `repository:${repository}:pull`;
    return withRetries(
      this.#http.retry,
      signal,
      async () => {
        const base = this.#baseUrl(ep);
        const url = new URL(path, base);
        const target: AuthTarget = { registry: ep.name, repository, origin: base.origin, insecureTls: ep.insecure };
        const send = async (authorization: string | undefined): Promise<HttpResponse> => {
          try {
            return await this.#http.fetch(url, { headers, authorization, authOrigin: base.origin, insecureTls: ep.insecure, signal });
          } catch (err) {
            const e = connectionError(err, url, what, signal);
            if (e instanceof RetryableError && e.plainHttpServer) {
              assertPlainHttpAllowed(ep.name, this.#config, 'the server answered TLS with plain HTTP');
            }
            throw e;
          }
        };
        let res = await send(this.#auth.cached(target, scope));
        if (res.status === 401) {
          const challenge = pickChallenge(res.headers['www-authenticate']);
          await discard(res.body);
          if (challenge === undefined) {
            throw new KeelError('E_REGISTRY_DENIED', `${what}: 401 without a challenge keel can answer (Bearer or Basic)`, { detail: { url: redact(url) } });
          }
          this.#auth.forget(target, scope);
          res = await send(await this.#auth.authorize(target, challenge, scope, signal));
          if (res.status === 401) {
            await discard(res.body);
            throw new KeelError('E_REGISTRY_DENIED', `${what}: the registry refused the credentials (401 after authenticating)`, {
              detail: { url: redact(url), registry: ep.name },
              hint: 'check the credentials in the auth file (podman login / docker login) or --authfile',
            });
          }
        }
        if (res.status < 200 || res.status > 299) throw await statusError(res, what, this.#http.retry);
        try {
          return await handle(res);
        } catch (err) {
          res.body.destroy();
          throw connectionError(err, res.url, what, signal);
        }
      },
      (err) => {
        // An insecure registry that does not speak TLS: move on to plain http at once.
        const index = this.#scheme.get(ep.name) ?? 0;
        if (err.final.code === 'E_REGISTRY_UNREACHABLE' && index + 1 < ep.schemes.length) {
          this.#scheme.set(ep.name, index + 1);
          return true;
        }
        return false;
      },
    );
  }

  /** GET a foreign layer URL: never with credentials; retries and redirects as for registries. */
  async #foreignGet(url: URL, offset: number, what: string, signal: AbortSignal | undefined): Promise<HttpResponse> {
    const headers = offset > 0 ? { range: `bytes=${offset}-` } : {};
    return withRetries(this.#http.retry, signal, async () => {
      let res: HttpResponse;
      try {
        res = await this.#http.fetch(url, { headers, signal });
      } catch (err) {
        throw connectionError(err, url, what, signal);
      }
      if (res.status < 200 || res.status > 299) throw await statusError(res, `${what} at ${url.host}`, this.#http.retry);
      return res;
    });
  }
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function checkDigest(bytes: Buffer, expected: Digest, what: string, res: HttpResponse): void {
  const found = digestOf(bytes, digestAlgorithm(expected));
  if (found !== expected) {
    throw new KeelError('E_DIGEST_MISMATCH', `${what} has digest ${found}, expected ${expected}; discarded`, {
      detail: { expected, found, url: redact(res.url) },
    });
  }
}

function checkLength(res: HttpResponse, size: number, what: string): void {
  const cl = firstHeader(res.headers['content-length']);
  if (res.status === 200 && cl !== undefined && /^[0-9]+$/.test(cl) && Number(cl) !== size) {
    throw new KeelError('E_SIZE_MISMATCH', `${what} is ${cl} bytes according to the registry, expected ${size}`, {
      detail: { expected: size, found: Number(cl), url: redact(res.url) },
    });
  }
}

/** Content-Type when it names a manifest or index type, else the document's own mediaType, else the header as sent. */
function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
  const header = contentType?.split(';')[0]?.trim();
  const known = (t: string | undefined): t is string => t !== undefined && (MANIFEST_TYPES.includes(t) || INDEX_TYPES.includes(t));
  if (known(header)) return header;
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    if (typeof doc.mediaType === 'string' && doc.mediaType.length < 256) return doc.mediaType;
  } catch {
    // the parser in oci/ reports invalid JSON with context; here we only label it
  }
  return header ?? 'application/octet-stream';
}

