// The layer folder's face: safe extraction of one hostile layer into its own
// tree, and stacking of extracted layers into a rootfs. docs/layers.md has the
// policy (what is refused with which code, limits, devices, xattrs, FIFOs).

export { DEFAULT_LIMITS, RATIO_MIN_BYTES, type LayerLimits } from './limits.ts';
export { extractLayer, type ExternalLink, type ExtractLayerOptions, type LayerStats } from './extract.ts';
export { OFF_THREAD_MIN_BYTES, extractLayerOffThread } from './extract-pool.ts';
export type { FileDigest } from './fs-ops.ts';
export { stackLayers, type StackLayer, type StackOptions, type StackStats } from './stack.ts';
export { MAX_SYMLINKS, lstatOrNull, resolveDirInRoot } from './resolve.ts';
