// `oci:DIR[:tag]` — an OCI image layout directory, such as `skopeo copy ...
// oci:DIR:tag` or `umoci init` writes. Blobs are read in place; none may
// resolve outside DIR (see directory-files.ts).

import { formatReference, type LocalReference } from '../oci/reference.ts';
import { DirectoryFiles } from './directory-files.ts';
import { OciLayoutImage } from './oci-layout-image.ts';
import type { ImageSource } from './source.ts';

export function openOciLayoutSource(ref: LocalReference): ImageSource {
  const files = new DirectoryFiles(ref.path, `oci:${ref.path}`);
  return new OciLayoutImage(files, ref.tag, formatReference(ref));
}
