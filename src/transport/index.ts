// The transport face: one ImageSource per reference, whatever its transport.
// The pull engine (ops/) calls openSource and knows nothing else of here.

import type { ImageReference } from '../oci/reference.ts';
import { openDockerArchiveSource } from './docker-archive-source.ts';
import { openOciArchiveSource } from './oci-archive-source.ts';
import { openOciLayoutSource } from './oci-layout-source.ts';
import { openRegistrySource, type RegistrySourceOptions } from './registry-source.ts';
import type { ImageSource } from './source.ts';

export type { BlobOptions, FetchedManifest, ImageSource } from './source.ts';
export type { RegistrySourceOptions } from './registry-source.ts';
export { openDockerArchiveSource } from './docker-archive-source.ts';
export { openOciArchiveSource } from './oci-archive-source.ts';
export { openOciLayoutSource } from './oci-layout-source.ts';

export interface SourceOptions {
  readonly registry: RegistrySourceOptions;
}

/**
 * The source for `ref`. Opening does no I/O: a missing file or a malformed
 * layout surfaces, with its code, from the first getManifest or openBlob.
 */
export function openSource(ref: ImageReference, options: SourceOptions): ImageSource {
  switch (ref.transport) {
    case 'registry':
      return openRegistrySource(ref, options.registry);
    case 'oci':
      return openOciLayoutSource(ref);
    case 'oci-archive':
      return openOciArchiveSource(ref);
    case 'docker-archive':
      return openDockerArchiveSource(ref);
  }
}
