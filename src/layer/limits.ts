// Safety limits for one layer. Every layer is hostile: these bound the work a
// layer can make keel do (entries, path walking, decompression) before it is
// refused with E_LAYER_LIMIT. docs/layers.md explains each value.

export interface LayerLimits {
  /** Tar entries (files, dirs, links, ...; not PAX/GNU meta headers). */
  maxEntries: number;
  /** Components in a normalised entry path. */
  maxDepth: number;
  /** Bytes in an entry path (raw and normalised) or a link target. */
  maxPathLength: number;
  /** Bytes in one path component. */
  maxNameLength: number;
  /** Uncompressed / compressed bytes, checked once past `RATIO_MIN_BYTES` uncompressed. */
  maxRatio: number;
  /** Bytes in one PAX extended header or GNU long-name record. */
  maxPaxHeaderSize: number;
}

/** The ratio is only measured past this many uncompressed bytes (small layers may compress well). */
export const RATIO_MIN_BYTES = 64 * 1024 * 1024;

export const DEFAULT_LIMITS: Readonly<LayerLimits> = Object.freeze({
  maxEntries: 1_000_000,
  maxDepth: 128,
  maxPathLength: 4096,
  maxNameLength: 255,
  maxRatio: 1000,
  maxPaxHeaderSize: 1024 * 1024,
});

/** Fills the unset fields of `partial` from DEFAULT_LIMITS. */
export function resolveLimits(partial: Partial<LayerLimits> | undefined): LayerLimits {
  const limits: LayerLimits = { ...DEFAULT_LIMITS };
  if (partial !== undefined) {
    for (const key of Object.keys(DEFAULT_LIMITS) as (keyof LayerLimits)[]) {
      const value = partial[key];
      if (value !== undefined) limits[key] = value;
    }
  }
  return limits;
}
