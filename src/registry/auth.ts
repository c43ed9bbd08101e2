// Answers registry 401 challenges. Bearer: fetch a token from the challenge's
// realm (with Basic credentials when the auth files have some, anonymously
// otherwise) and cache it per (registry, scope) for its expires_in. Basic: send
// the credentials, and keep sending them to that registry. Token bodies are
// capped; a realm may be plain http only when it is loopback or the registry
// itself is spoken to over http.

import { KeelError } from '../errors.ts';
import { isLoopbackRegistry } from '../oci/reference.ts';
import type { Credentials, CredentialStore } from './auth-file.ts';
import { readBounded } from './bounded-body.ts';
import { connectionError, statusError, withRetries, type HttpSession } from './http.ts';
import { MAX_TOKEN_BYTES } from './limits.ts';
import type { Challenge } from './www-authenticate.ts';

/** Docker's token spec: a token without expires_in lives 60 s. */
const DEFAULT_TOKEN_SECONDS = 60;
/** Refresh this much before expiry so a token does not die in flight. */
const EXPIRY_MARGIN_MS = 5_000;

export interface AuthTarget {
  /** Name as auth files know it (docker.io, mirror.example:5000). */
  readonly registry: string;
  readonly repository: string;
  /** The origin requests go to (http://127.0.0.1:5000). */
  readonly origin: string;
  readonly insecureTls: boolean;
}

export function basicAuthorization(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

export class AuthManager {
  readonly #http: HttpSession;
  readonly #credentials: CredentialStore;
  readonly #tokens = new Map<string, { authorization: string; expiresAt: number }>();
  readonly #basic = new Map<string, string>();
  readonly #now: () => number;

  constructor(http: HttpSession, credentials: CredentialStore, now: () => number = Date.now) {
    this.#http = http;
    this.#credentials = credentials;
    this.#now = now;
  }

  /** A cached Authorization for this target and scope, if any is still valid. */
  cached(target: AuthTarget, scope: string): string | undefined {
    const basic = this.#basic.get(target.origin);
    if (basic !== undefined) return basic;
    const key = `${target.origin}|${scope}`;
    const t = this.#tokens.get(key);
    if (t === undefined) return undefined;
    if (t.expiresAt <= this.#now()) {
      this.#tokens.delete(key);
      return undefined;
    }
    return t.authorization;
  }

  /** Obtains a fresh Authorization for `challenge`; E_REGISTRY_DENIED when it cannot. */
  async authorize(target: AuthTarget, challenge: Challenge, scope: string, signal?: AbortSignal): Promise<string> {
    const creds = this.#credentials.lookup(target.registry, target.repository);
    if (challenge.scheme === 'basic') {
      if (!creds) throw this.#needCredentials(target);
      const authorization = basicAuthorization(creds);
      this.#basic.set(target.origin, authorization);
      return authorization;
    }
    const realm = this.#realmUrl(target, challenge.realm);
    if (challenge.service !== undefined) realm.searchParams.set('service', challenge.service);
    realm.searchParams.set('scope', scope);
    const what = `token for ${target.registry}/${target.repository}`;
    const body = await withRetries(this.#http.retry, signal, async () => {
      let res;
      try {
        res = await this.#http.fetch(realm, {
          authorization: creds ? basicAuthorization(creds) : undefined,
          authOrigin: realm.origin,
          insecureTls: target.insecureTls,
          signal,
        });
      } catch (err) {
        throw connectionError(err, realm, what, signal);
      }
      if (res.status !== 200) {
        const e = await statusError(res, what, this.#http.retry);
        if (e instanceof KeelError && e.code === 'E_REGISTRY_DENIED' && !creds) throw this.#needCredentials(target);
        throw e;
      }
      return readBounded(res.body, MAX_TOKEN_BYTES, `token response from ${realm.host}`, res.headers['content-length']);
    });
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8')) as typeof doc;
    } catch (err) {
      throw new KeelError('E_REGISTRY_PROTOCOL', `${what}: the token service at ${realm.host} did not answer JSON`, { cause: err });
    }
    const token = typeof doc.token === 'string' && doc.token !== '' ? doc.token : doc.access_token;
    if (typeof token !== 'string' || token === '' || /[\r\n]/.test(token)) {
      throw new KeelError('E_REGISTRY_PROTOCOL', `${what}: the token service at ${realm.host} answered without a token`);
    }
    const seconds = typeof doc.expires_in === 'number' && Number.isFinite(doc.expires_in) && doc.expires_in > 0 ? doc.expires_in : DEFAULT_TOKEN_SECONDS;
    const authorization = `Bearer ${token}`;
    this.#tokens.set(`${target.origin}|${scope}`, { authorization, expiresAt: this.#now() + seconds * 1000 - EXPIRY_MARGIN_MS });
    return authorization;
  }

  /** Forgets what is cached for this target (after the registry refused it). */
  forget(target: AuthTarget, scope: string): void {
    this.#tokens.delete(`${target.origin}|${scope}`);
  }

  #realmUrl(target: AuthTarget, realm: string): URL {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new KeelError('E_REGISTRY_PROTOCOL', `${target.registry}: the auth challenge names an invalid realm ${JSON.stringify(realm.slice(0, 200))}`);
    }
    const plainOk = isLoopbackRegistry(url.host) || target.origin.startsWith('http:');
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && plainOk)) {
      throw new KeelError('E_REGISTRY_INSECURE', `${target.registry}: refusing to send credentials to the token realm ${url.protocol}//${url.host}`, {
        detail: { realm: `${url.protocol}//${url.host}${url.pathname}` },
      });
    }
    return url;
  }

  #needCredentials(target: AuthTarget): KeelError {
    const files = this.#credentials.files.length > 0 ? this.#credentials.files.join(', ') : 'none found';
    return new KeelError('E_REGISTRY_DENIED', `${target.registry}/${target.repository}: the registry needs credentials and the auth files (${files}) have none for it`, {
      detail: { registry: target.registry },
      hint: 'log in with podman login / docker login, or pass --authfile',
    });
  }
}
