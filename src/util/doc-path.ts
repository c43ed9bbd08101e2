// Where keel's documentation is on the host it runs on, so that help texts
// and hints name a path that exists there: a checkout (bin/keel, or the
// sources run directly) has docs/ beside dist/ and src/; the .deb installs
// the code in /usr/lib/keel and the documents flat in /usr/share/doc/keel/
// (packaging/build-deb step 6), with no docs/ beside the code.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the .deb installs docs/*.md. */
export const INSTALLED_DOC_DIR = '/usr/share/doc/keel';

/** Where the .deb installs manifests/schema.json (beside the example manifests). */
export const INSTALLED_SCHEMA_PATH = '/usr/share/keel/manifests/schema.json';

/**
 * The directory holding keel's documents for code loaded from `moduleUrl`
 * (this file's URL: src/util/ or dist/util/ of a checkout or of
 * /usr/lib/keel): the checkout's docs/ when it is there, else the installed
 * one. `exists` is injectable for tests.
 */
export function docDirectory(moduleUrl: string = import.meta.url, exists: (p: string) => boolean = existsSync): string {
  const checkout = fileURLToPath(new URL('../../docs', moduleUrl));
  return exists(path.join(checkout, 'errors.md')) ? checkout : INSTALLED_DOC_DIR;
}

/** The path of one document (`errors.md`) where keel runs. */
export function docPath(name: string): string {
  return path.join(docDirectory(), name);
}
