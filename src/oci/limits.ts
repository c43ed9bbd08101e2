// Caps on what keel holds in memory from an untrusted source. Everything
// bigger is streamed; these documents are parsed whole, so they are bounded.

/** Manifests, indexes and image configs (as containers/image: 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 << 20;
