// `oci-archive:FILE[:tag]` — a tar of an OCI image layout (skopeo's
// oci-archive:). Served in place from the uncompressed tar; nothing is
// extracted (see archive-files.ts). A compressed archive is refused with a hint.

import { KeelError } from '../errors.ts';
import { formatReference, type LocalReference } from '../oci/reference.ts';
import type { Digest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/types.ts';
import type { Readable } from 'node:stream';
import { ArchiveFiles } from './archive-files.ts';
import { OciLayoutImage } from './oci-layout-image.ts';
import type { BlobOptions, FetchedManifest, ImageSource } from './source.ts';

export function openOciArchiveSource(ref: LocalReference): ImageSource {
  return new OciArchiveSource(ref);
}

class OciArchiveSource implements ImageSource {
  readonly name: string;
  readonly #files: ArchiveFiles;
  readonly #image: OciLayoutImage;
  #checked: Promise<void> | undefined;

  constructor(ref: LocalReference) {
    this.name = formatReference(ref);
    this.#files = new ArchiveFiles(ref.path, `oci-archive:${ref.path}`);
    this.#image = new OciLayoutImage(this.#files, ref.tag, this.name);
  }

  async getManifest(digest?: Digest): Promise<FetchedManifest> {
    await this.#check();
    return this.#image.getManifest(digest);
  }

  async openBlob(descriptor: Descriptor, options?: BlobOptions): Promise<Readable> {
    await this.#check();
    return this.#image.openBlob(descriptor, options);
  }

  close(): Promise<void> {
    return this.#image.close();
  }

  /** A docker save archive passed as oci-archive: gets a hint instead of "oci-layout is missing". */
  #check(): Promise<void> {
    this.#checked ??= (async () => {
      if (!(await this.#files.has('oci-layout')) && (await this.#files.has('manifest.json'))) {
        throw new KeelError('E_SOURCE_INVALID', `${this.#files.where}: this is a docker save archive, not an OCI archive`, {
          detail: { path: this.#files.file },
          hint: `use docker-archive:${this.#files.file}`,
        });
      }
    })();
    return this.#checked;
  }
}
