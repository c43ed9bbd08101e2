// The shared content-addressed store under --root: an OCI image layout
// (blobs, index.json refs) plus extracted layers keyed by diff_id, with
// cross-process locks. It never talks to registries: callers hand it streams.
//
// Invariants: a blob at blobs/<alg>/<hex> always hashes to its name (written
// to tmp/, verified, renamed); a layer counts as present only when its record
// exists (written last); index.json is only replaced by rename under the
// `index` lock; nothing is deleted outside the exclusive lock except temp
// files of dead processes and a layer check found changed (quarantineLayer,
// under that layer's lock: its record is renamed away first, so it is never
// seen present while half-deleted).

import { lstat, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { KeelError, errnoCode, fsError } from '../errors.ts';
import { digestAlgorithm, digestHex, digestOf, parseDigest, type Digest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/types.ts';
import { streamBlobIntoStore } from './blob-write.ts';
import { checkStore, type CheckOptions } from './check.ts';
import { fingerprintTree } from './fingerprint.ts';
import { ingestLayer, type IngestResult, type LayerCommit, type LayerIngest, type LayerStaging } from './ingest.ts';
import { fsyncDir, writeFileAtomic } from './fs-sync.ts';
import { syncFilesystem } from '../util/durable.ts';
import { phaseClock } from '../util/phase-clock.ts';
import { openLayout, type Layout } from './layout.ts';
import { layerRecordFormat, readLayerRecord, type LayerRecord } from './layer-record.ts';
import { openRegularFile } from './regular-file.ts';
import { StoreLocks } from './lock.ts';
import type { StoreProblem } from './problem.ts';
import { pruneStore, type PruneResult } from './prune.ts';
import { descriptorEntry, entryDescriptor, entryName, readIndex, validateRefName, writeIndex } from './refs.ts';
import { hashFile } from './scan.ts';
import { STREAM_CHUNK } from '../util/stream-chunk.ts';


export interface StoreOpenOptions {
  /** Create the store if `root` is missing or an empty directory. */
  readonly create?: boolean | undefined;
  /** How long to wait for any store lock before E_STORE_LOCKED (default 10 minutes). */
  readonly lockTimeoutMs?: number | undefined;
  /** Open only to read: create, repair and clean nothing. */
  readonly readOnly?: boolean | undefined;
}

export interface WriteBlobOptions {
  /**
   * The source itself verifies size and digest and errors instead of ending
   * when they do not match (an ImageSource blob stream, or a branch of one):
   * the store then does not hash the bytes a second time. Nothing is renamed
   * into place unless the source ended cleanly either way.
   */
  readonly sourceVerifies?: boolean | undefined;
}


/** A blob's bytes: a stream, or a function that opens one (called only if the blob is missing). */
export type BlobSource = Readable | (() => Promise<Readable>);

export interface ExpectedBlob {
  readonly digest: Digest;
  readonly size?: number | undefined;
}

/** A regular file itself (lstat): a symlink planted where a blob belongs does not count as the blob. */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isFile();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false;
    throw fsError(`looking at ${path}`, err);
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false;
    throw fsError(`looking at ${path}`, err);
  }
}

function lockNameOf(kind: 'blob' | 'layer' | 'ingest', digest: Digest): string {
  return `${kind}-${digestAlgorithm(digest)}-${digestHex(digest)}`;
}


export class Store {
  readonly root: string;
  readonly #layout: Layout;
  readonly #locks: StoreLocks;
  readonly #inflight = new Map<string, Promise<unknown>>();

  private constructor(layout: Layout, lockTimeoutMs: number) {
    this.root = layout.root;
    this.#layout = layout;
    this.#locks = new StoreLocks(layout.locks, layout.tmp, lockTimeoutMs);
  }

  /**
   * Opens the store at `root`. With `create`, a missing or empty directory is
   * initialised (mode 0700, oci-layout, index.json, blobs/, layers/, tmp/,
   * locks/). Refuses a root that is not a directory or not a store
   * (E_STORE_CORRUPT); a missing root without `create` is E_STORE_NOT_FOUND.
   * Removes temp leftovers of dead processes — unless `readOnly`: then
   * nothing on disk is created, repaired or removed (reading commands).
   */
  static async open(root: string, options: StoreOpenOptions = {}): Promise<Store> {
    const layout = await openLayout(resolve(root), options.create ?? false, options.readOnly ?? false);
    return new Store(layout, options.lockTimeoutMs ?? 10 * 60_000);
  }

  blobPath(digest: Digest): string {
    return this.#layout.blob(digest);
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return isFile(this.blobPath(digest));
  }

  /**
   * Stores the blob streamed by `source`, verified against `expected`.
   * Idempotent: if the blob exists, `source` is destroyed unread (or, given as
   * a function, never opened: it is called under the blob's lock, only when
   * the blob is missing). Concurrent calls for one digest in this process
   * share one write (later callers wait and drop their source; if the first
   * write fails they write from their own); across processes the per-blob lock
   * serialises writers.
   */
  async writeBlob(expected: ExpectedBlob, source: BlobSource, options: WriteBlobOptions = {}): Promise<void> {
    const digest = parseDigest(expected.digest);
    const drop = (): void => {
      if (typeof source !== 'function') source.destroy();
    };
    await this.#once(`blob ${digest}`, drop, () =>
      this.withBlobLock(digest, async () => {
        if (await this.hasBlob(digest)) return drop();
        await mkdir(dirname(this.blobPath(digest)), { recursive: true }).catch((err: unknown) => {
          drop();
          throw fsError('creating the blob directory', err);
        });
        const stream = typeof source === 'function' ? await source() : source;
        await streamBlobIntoStore(this.#layout, { digest, size: expected.size }, stream, options.sourceVerifies === true);
      }),
    );
  }

  /**
   * Makes a layer present: its blob and its extracted tree (src/store/ingest.ts
   * has the decision). Idempotent; resolving means both are stored, durable
   * and recorded. One ingestion of a layer at a time: concurrent calls in this
   * process share one, other processes wait for the layer's ingest lock (as
   * long as its download moves: see lock.ts) and then find it present.
   */
  async ingestLayer(request: LayerIngest): Promise<IngestResult> {
    const digest = parseDigest(request.descriptor.digest);
    const diffId = parseDigest(request.diffId);
    // keyed by both: a manifest may name one blob twice with different diff_ids (one of them wrong)
    return this.#once(`ingest ${digest} ${diffId}`, (): IngestResult => ({ fetched: false }), () =>
      this.#locks.withLock(lockNameOf('ingest', digest), (progress) => ingestLayer(this, request, progress)),
    );
  }

  /**
   * Runs `work` unless a call with the same key is running in this process:
   * then waits for it and returns `joined()` if it succeeded, or runs `work`
   * itself if it failed (unless yet another caller took over meanwhile).
   */
  async #once<T>(key: string, joined: () => T, work: () => Promise<T>): Promise<T> {
    let pending = this.#inflight.get(key);
    while (pending !== undefined) {
      try {
        await pending;
        return joined();
      } catch {
        // the first caller failed: try ourselves
      }
      const next = this.#inflight.get(key);
      pending = next === pending ? undefined : next;
    }
    const mine = work();
    this.#inflight.set(key, mine);
    try {
      return await mine;
    } finally {
      if (this.#inflight.get(key) === mine) this.#inflight.delete(key);
    }
  }

  /** Runs `fn` holding the cross-process lock of one blob (not re-entrant: writeBlob takes it too). */
  withBlobLock<T>(digest: Digest, fn: () => Promise<T>): Promise<T> {
    return this.#locks.withLock(lockNameOf('blob', parseDigest(digest)), fn);
  }

  /** Stores a small in-memory blob (manifest, config); verified before anything is written. */
  async putBlob(bytes: Uint8Array, expected: ExpectedBlob): Promise<void> {
    const digest = parseDigest(expected.digest);
    if (expected.size !== undefined && bytes.byteLength !== expected.size) {
      throw new KeelError('E_SIZE_MISMATCH', `blob ${digest} is ${bytes.byteLength} bytes, expected ${expected.size}`, {
        detail: { expected: expected.size, found: bytes.byteLength, digest },
      });
    }
    const found = digestOf(bytes, digestAlgorithm(digest));
    if (found !== digest) {
      throw new KeelError('E_DIGEST_MISMATCH', `blob has digest ${found}, expected ${digest}`, { detail: { expected: digest, found } });
    }
    await this.writeBlob({ digest, size: bytes.byteLength }, Readable.from([Buffer.from(bytes)]));
  }

  /**
   * Reads a whole blob, at most `maxBytes` (else E_BODY_TOO_LARGE), verified
   * against its digest (E_STORE_CORRUPT if the stored bytes are damaged).
   * A missing blob is E_IMAGE_NOT_FOUND.
   */
  async readBlob(digest: Digest, maxBytes: number): Promise<Buffer> {
    const path = this.blobPath(digest);
    let fh;
    try {
      fh = await openRegularFile(path);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        throw new KeelError('E_IMAGE_NOT_FOUND', `blob ${digest} is not in the store`, { detail: { digest } });
      }
      throw fsError(`opening blob ${digest}`, err);
    }
    let bytes: Buffer;
    try {
      const size = (await fh.stat()).size;
      if (size > maxBytes) {
        throw new KeelError('E_BODY_TOO_LARGE', `blob ${digest} is ${size} bytes, over the ${maxBytes}-byte cap for reading it into memory`, {
          detail: { digest, size, maxBytes },
        });
      }
      bytes = await fh.readFile();
    } catch (err) {
      throw fsError(`reading blob ${digest}`, err);
    } finally {
      await fh.close();
    }
    const found = digestOf(bytes, digestAlgorithm(digest));
    if (found !== digest) {
      throw new KeelError('E_STORE_CORRUPT', `stored blob ${digest} has digest ${found}: it is damaged`, {
        detail: { expected: digest, found, path },
        hint: 'run keel check; remove the damaged blob file and pull the image again',
      });
    }
    return bytes;
  }

  /** The raw bytes of a stored blob as a stream (not verified; E_IMAGE_NOT_FOUND if missing). */
  openBlob(digest: Digest): Readable {
    const path = this.blobPath(digest);
    async function* chunks(): AsyncGenerator<Buffer> {
      let fh;
      try {
        fh = await openRegularFile(path);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') throw new KeelError('E_IMAGE_NOT_FOUND', `blob ${digest} is not in the store`, { detail: { digest } });
        throw fsError(`opening blob ${digest}`, err);
      }
      try {
        for await (const chunk of fh.createReadStream({ highWaterMark: STREAM_CHUNK, autoClose: false })) yield chunk as Buffer;
      } finally {
        await fh.close();
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  layerPath(diffId: Digest): string {
    return this.#layout.layer(diffId);
  }

  /** True only when the completion record and the directory both exist. */
  async hasLayer(diffId: Digest): Promise<boolean> {
    // a record this keel cannot read (a newer format, damage) does not make the layer present
    return (await this.layerRecord(diffId)) !== undefined && (await isDir(this.layerPath(diffId)));
  }

  /** Whether `check` found the layer changed and set it aside (and no extraction has replaced it since). */
  async layerDamaged(diffId: Digest): Promise<boolean> {
    return (await isFile(this.#layout.layerDamaged(diffId))) && !(await this.hasLayer(diffId));
  }

  /**
   * Sets aside a committed layer that `check` found changed, so nothing new is
   * built from it: under the layer's lock, and only if its record is still the
   * one that was verified (`committed`; a layer re-extracted meanwhile is left
   * alone), the record is renamed to `<hex>.damaged` (one rename: from then on
   * the layer is absent, and marked damaged), then the tree is moved into tmp/
   * and removed. Trees already built from it (hard links) keep their inodes.
   * `keel pull` of an image that uses it re-extracts it; commit drops the mark.
   * Returns whether it set the layer aside.
   */
  async quarantineLayer(diffId: Digest, committed: string): Promise<boolean> {
    const id = parseDigest(diffId);
    return this.#locks.withLock(lockNameOf('layer', id), async () => {
      const record = await this.layerRecord(id);
      if (record === undefined || record.committed !== committed) return false;
      const recordPath = this.#layout.layerRecord(id);
      try {
        await rename(recordPath, this.#layout.layerDamaged(id));
        await fsyncDir(dirname(recordPath));
        const trash = this.#layout.tmpPath('damaged-layer');
        await rename(this.layerPath(id), trash);
        await rm(trash, { recursive: true, force: true });
      } catch (err) {
        throw fsError(`setting aside damaged layer ${id}`, err);
      }
      return true;
    });
  }

  /**
   * Removes a blob `check` found not to hash to its name: under the blob's
   * lock it is hashed again (another check may have removed it and a pull
   * written a good one meanwhile) and, still damaged, moved into tmp/ in one
   * rename, then deleted. From then on the
   * blob is absent, so nothing new reads it and `keel pull` of an image that
   * needs it fetches it again. Returns whether it removed it.
   */
  async quarantineBlob(digest: Digest): Promise<boolean> {
    const d = parseDigest(digest);
    return this.withBlobLock(d, async () => {
      if (!(await this.hasBlob(d))) return false;
      const path = this.blobPath(d);
      if ((await hashFile(path, digestAlgorithm(d))) === d) return false;
      try {
        const trash = this.#layout.tmpPath('damaged-blob');
        await rename(path, trash);
        await fsyncDir(dirname(path));
        await rm(trash, { force: true });
      } catch (err) {
        throw fsError(`removing damaged blob ${d}`, err);
      }
      return true;
    });
  }

  /** The completion record of a committed layer, or undefined. */
  async layerRecord(diffId: Digest): Promise<LayerRecord | undefined> {
    const r = await readLayerRecord(this.#layout.layerRecord(diffId));
    return r.state === 'ok' ? r.record : undefined;
  }

  async stageLayer(): Promise<LayerStaging> {
    const dir = this.#layout.tmpPath('layer');
    try {
      await mkdir(dir, { mode: 0o755 });
    } catch (err) {
      throw fsError('creating a layer staging directory', err);
    }
    let done = false;
    const commit = async (diffId: Digest, record: LayerCommit): Promise<void> => {
      if (done) throw new KeelError('E_INTERNAL', `layer staging ${dir} was already committed or aborted`);
      const id = parseDigest(diffId);
      const digest = parseDigest(record.digest);
      const treeDigest = await phaseClock.measure('fingerprint', () => fingerprintTree(dir, undefined, record.knownContent));
      await phaseClock.measure('sync', () => syncFilesystem(dir));
      const mark = phaseClock.now();
      await this.#locks.withLock(lockNameOf('layer', id), async () => {
        if (await this.hasLayer(id)) {
          await rm(dir, { recursive: true, force: true });
          done = true;
          return;
        }
        const target = this.layerPath(id);
        const recordPath = this.#layout.layerRecord(id);
        try {
          await mkdir(dirname(target), { recursive: true });
          // Under the layer lock a directory without record is a leftover of a crash: replace it.
          if (await isDir(target)) {
            const trash = this.#layout.tmpPath('stale-layer');
            await rename(target, trash);
            await rm(trash, { recursive: true, force: true });
          }
          await rm(recordPath, { force: true });
          await rename(dir, target);
          done = true; // the staging directory is the layer now: abort must not remove it
        } catch (err) {
          throw fsError(`committing layer ${id}`, err);
        }
        await fsyncDir(dirname(target));
        const full: LayerRecord = {
          format: layerRecordFormat(record.externalLinks ?? []), diffId: id, digest, mediaType: record.mediaType, entries: record.entries, size: record.size, treeDigest, committed: new Date().toISOString(),
          ...(record.implicitDirs && record.implicitDirs.length > 0 ? { implicitDirs: [...record.implicitDirs] } : {}),
          ...(record.externalLinks && record.externalLinks.length > 0 ? { externalLinks: record.externalLinks.map((l) => ({ path: l.path, target: l.target, ...(l.early === true ? { early: true as const } : {}) })) } : {}),
          ...(record.xattrPaths !== undefined ? { xattrPaths: [...record.xattrPaths].sort() } : {}),
        };
        await writeFileAtomic(recordPath, `${JSON.stringify(full, null, 2)}\n`, { tmpDir: this.#layout.tmp });
        // A re-extraction repairs a layer check set aside: the mark goes once the record is durable.
        await rm(this.#layout.layerDamaged(id), { force: true }).catch(() => {});
      });
      phaseClock.add('commit', mark);
    };
    const abort = async (): Promise<void> => {
      if (done) return;
      done = true;
      await rm(dir, { recursive: true, force: true });
    };
    return { dir, commit, abort };
  }

  /** Names `descriptor` (whose blob must be in the store) `name` in index.json, replacing an entry of that name. */
  async setRef(name: string, descriptor: Descriptor): Promise<void> {
    validateRefName(name);
    parseDigest(descriptor.digest);
    if (!(await this.hasBlob(descriptor.digest))) {
      throw new KeelError('E_IMAGE_NOT_FOUND', `cannot name ${descriptor.digest} ${name}: its manifest is not in the store`, {
        detail: { digest: descriptor.digest, name },
      });
    }
    await this.#locks.withLock('index', async () => {
      const doc = await readIndex(this.#layout);
      const entries = doc.entries.filter((e) => entryName(e) !== name);
      entries.push(descriptorEntry(descriptor, name));
      await writeIndex(this.#layout, doc, entries);
    });
  }

  async getRef(name: string): Promise<Descriptor | undefined> {
    const doc = await readIndex(this.#layout);
    const i = doc.entries.findIndex((e) => entryName(e) === name);
    const entry = doc.entries[i];
    return entry === undefined ? undefined : entryDescriptor(this.#layout, entry, i);
  }

  /** Every named entry of index.json, in file order (unnamed entries are skipped). */
  async listRefs(): Promise<Array<{ name: string; descriptor: Descriptor }>> {
    const doc = await readIndex(this.#layout);
    const out: Array<{ name: string; descriptor: Descriptor }> = [];
    doc.entries.forEach((e, i) => {
      const name = entryName(e);
      if (name !== undefined) out.push({ name, descriptor: entryDescriptor(this.#layout, e, i) });
    });
    return out;
  }

  /** Removes the entry named `name`; false if there was none. Blobs stay until prune. */
  async removeRef(name: string): Promise<boolean> {
    return this.#locks.withLock('index', async () => {
      const doc = await readIndex(this.#layout);
      const entries = doc.entries.filter((e) => entryName(e) !== name);
      if (entries.length === doc.entries.length) return false;
      await writeIndex(this.#layout, doc, entries);
      return true;
    });
  }

  /** Runs `fn` with the store's shared lock (pull, unpack, check). */
  withSharedLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.#locks.withShared(fn);
  }

  /**
   * Runs `fn` holding the containers mutex: commands that change system
   * containers (apply, boot, update, rollback, remove) observe, plan and act
   * one at a time, so two applies of the same input cannot both restart.
   */
  withContainersLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.#locks.withLock('containers', fn);
  }

  /** Runs `fn` with the store's exclusive lock (prune); waits for shared holders to finish. */
  withExclusiveLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.#locks.withExclusive(fn);
  }

  /**
   * Verifies the whole store (see docs/store.md); an empty list means healthy.
   * Takes no lock of its own. Rejects with `signal`'s reason once it is
   * aborted. Changes nothing, unless `quarantine`: then each layer found
   * changed is set aside (quarantineLayer) under its layer lock.
   */
  check(options: CheckOptions = {}): Promise<StoreProblem[]> {
    return checkStore(this, this.#layout, options);
  }

  /**
   * Removes blobs and extracted layers that no ref reaches (and `keepLayers`
   * does not name), layer leftovers, and temp files of dead processes. Runs
   * under the exclusive lock. Aborts with E_STORE_CORRUPT, deleting nothing,
   * if a referenced manifest or config cannot be read.
   */
  prune(options: { keepLayers?: Iterable<Digest> | undefined; keepImages?: readonly Descriptor[] | undefined } = {}): Promise<PruneResult> {
    return this.withExclusiveLock(() => pruneStore(this, this.#layout, options.keepLayers, options.keepImages));
  }
}
