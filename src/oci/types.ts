// Typed, frozen views of the OCI documents keel reads. Values of these types
// are produced only by the parsers in parse.ts, so their digests and sizes are
// already validated.

import type { Digest } from './digest.ts';

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string | undefined;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  /** Foreign locations; keel never sends credentials to them. */
  readonly urls?: readonly string[] | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
  readonly platform?: Platform | undefined;
}

export interface ImageManifest {
  readonly kind: 'manifest';
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

export interface ImageIndex {
  readonly kind: 'index';
  readonly mediaType: string;
  readonly manifests: readonly Descriptor[];
}

/** The parts of the image configuration keel uses (OCI image-spec config.md). */
export interface ImageConfig {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string | undefined;
  readonly config: {
    readonly User?: string | undefined;
    readonly Env?: readonly string[] | undefined;
    readonly Entrypoint?: readonly string[] | undefined;
    readonly Cmd?: readonly string[] | undefined;
    readonly WorkingDir?: string | undefined;
    readonly StopSignal?: string | undefined;
    readonly Labels?: Readonly<Record<string, string>> | undefined;
    readonly ExposedPorts?: Readonly<Record<string, unknown>> | undefined;
    readonly Volumes?: Readonly<Record<string, unknown>> | undefined;
  };
  readonly rootfs: {
    readonly type: 'layers';
    readonly diff_ids: readonly Digest[];
  };
  readonly created?: string | undefined;
}

/** A manifest or index as fetched from any source: the exact bytes, verified. */
export interface FetchedManifest {
  /** The exact bytes; their digest is `digest`. At most MAX_MANIFEST_BYTES (oci/limits.ts). */
  readonly bytes: Buffer;
  /** The Content-Type or descriptor media type (the document's own when the header is not a manifest type). */
  readonly mediaType: string;
  /** The verified digest of `bytes`: the one asked by, or the one a registry announced. */
  readonly digest: Digest;
}
