// The chunk size of keel's byte streams: reading blobs from the store and from
// image archives, inflating layers, the buffers of a tee, batches of network
// reads. Every stage has a cost per chunk, so chunks are large; every layer in
// flight holds several of them, so they are not larger. Measured on the ~1 GiB
// bench image (bench/README.md, issue 9): 1 MiB chunks peaked at ~150 MB RSS,
// 512 KiB at ~124 MB for the same CPU time, 256 KiB at ~105 MB for ~10% more.
export const STREAM_CHUNK = 512 * 1024;
