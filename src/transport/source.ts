// The one interface every image transport implements (registry, oci:,
// oci-archive:, docker-archive:). The pull engine in ops/ knows only this.

import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.ts';
import type { Descriptor, FetchedManifest } from '../oci/types.ts';

export type { FetchedManifest } from '../oci/types.ts';

export interface BlobOptions {
  readonly signal?: AbortSignal | undefined;
  /** Called with the number of new bytes as they arrive (for progress). */
  readonly onProgress?: ((bytes: number) => void) | undefined;
}

export interface ImageSource {
  /** For messages: `docker.io/library/etcd:3.5`, `oci:/srv/images:etcd`. */
  readonly name: string;

  /**
   * The manifest (or index) the reference names when `digest` is undefined,
   * else the one with that digest (an index child). The bytes are verified
   * against the digest asked for (the reference's pin, or `digest`).
   */
  getManifest(digest?: Digest): Promise<FetchedManifest>;

  /**
   * A stream of the blob's bytes, verified while it flows against the
   * descriptor's size and digest: it errors (E_DIGEST_MISMATCH,
   * E_SIZE_MISMATCH, ...) instead of ending when they do not match, so a
   * consumer must commit only after the stream has ended cleanly.
   */
  openBlob(descriptor: Descriptor, options?: BlobOptions): Promise<Readable>;

  /** Releases sockets and file handles. */
  close(): Promise<void>;
}
