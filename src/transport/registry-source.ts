// The registry ImageSource: an image reference on a registry, read through
// registry/RegistryClient. Credentials are loaded lazily on first use (the
// search order is in registry/auth-file.ts), so constructing a source never
// touches the filesystem or network.

import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { KeelConfig } from '../config/index.ts';
import { KeelError } from '../errors.ts';
import { parseDigest, type Digest } from '../oci/digest.ts';
import { formatReference, type RegistryReference } from '../oci/reference.ts';
import type { Descriptor } from '../oci/types.ts';
import { loadCredentials, RegistryClient, type CredentialStore, type RetryPolicy, type Timeouts } from '../registry/index.ts';
import type { BlobOptions, FetchedManifest, ImageSource } from './source.ts';

export interface RegistrySourceOptions {
  readonly config: KeelConfig;
  /** --authfile: the only auth file read when given. */
  readonly authFile?: string | undefined;
  readonly userAgent?: string | undefined;
  /** An undici dispatcher instead of keel's own Agent (tests). */
  readonly dispatcher?: Dispatcher | undefined;
  /** Already-loaded credentials; skips the auth file search (tests, or a caller that loaded them once). */
  readonly credentials?: CredentialStore | undefined;
  readonly retry?: Partial<RetryPolicy> | undefined;
  readonly timeouts?: Partial<Timeouts> | undefined;
}

export function openRegistrySource(ref: RegistryReference, options: RegistrySourceOptions): ImageSource {
  let client: Promise<RegistryClient> | undefined;
  const getClient = (): Promise<RegistryClient> => {
    client ??= (async () => {
      const credentials = options.credentials ?? (await loadCredentials({ explicit: options.authFile, configured: options.config.authFile }));
      return new RegistryClient({
        config: options.config,
        credentials,
        userAgent: options.userAgent,
        dispatcher: options.dispatcher,
        retry: options.retry,
        timeouts: options.timeouts,
      });
    })();
    // A failed credential load must not be cached forever.
    client.catch(() => {
      client = undefined;
    });
    return client;
  };
  const name = formatReference(ref);

  return Object.freeze({
    name,
    async getManifest(digest?: Digest): Promise<FetchedManifest> {
      const reference = digest !== undefined ? parseDigest(digest) : (ref.digest ?? ref.tag);
      if (reference === undefined) {
        throw new KeelError('E_REFERENCE_INVALID', `${name}: the reference has neither a tag nor a digest`);
      }
      const c = await getClient();
      return c.getManifest(ref.registry, ref.repository, reference);
    },
    async openBlob(descriptor: Descriptor, blobOptions: BlobOptions = {}): Promise<Readable> {
      const c = await getClient();
      return c.openBlob(ref.registry, ref.repository, descriptor, { signal: blobOptions.signal, onProgress: blobOptions.onProgress });
    },
    async close(): Promise<void> {
      if (client === undefined) return;
      const c = await client.catch(() => undefined);
      await c?.close();
    },
  });
}
