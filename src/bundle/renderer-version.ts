// The renderer's identity, part of every bundle's inputs digest: keel's
// package version and the bundle format. Changing either re-renders every
// bundle on the next apply (the new bytes may differ even for the same spec).

import { readFileSync } from 'node:fs';

/** Bump when config.json or the slot layout changes shape for the same inputs. */
export const BUNDLE_FORMAT = 1;

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const RENDERER_VERSION: string = readVersion();
