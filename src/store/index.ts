// The store's public face: the content-addressed store under --root and the
// small durability and fingerprint helpers it is built on.

export { Store, type BlobSource, type ExpectedBlob, type WriteBlobOptions, type StoreOpenOptions } from './store.ts';
export type { IngestResult, LayerCommit, LayerIngest, LayerStaging } from './ingest.ts';
export type { StoreProblem } from './problem.ts';
export type { PruneResult } from './prune.ts';
export type { LayerRecord } from './layer-record.ts';
export { fingerprintTree, type KnownContent } from './fingerprint.ts';
export { fsyncDir, fsyncFile, writeFileAtomic, type WriteAtomicOptions } from './fs-sync.ts';
export { REF_NAME } from './refs.ts';
