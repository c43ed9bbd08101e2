// The renderer's identity, part of every bundle's inputs digest: keel's
// package version and the bundle format. Changing either re-renders every
// bundle on the next apply (the new bytes may differ even for the same spec).

import { VERSION } from '../version.ts';

/** Bump when config.json or the slot layout changes shape for the same inputs. */
export const BUNDLE_FORMAT = 1;

export const RENDERER_VERSION: string = VERSION;
