// keel-bundle.json: what a slot holds and how to start it, written last when
// a slot is rendered (a slot without a valid record is incomplete). Its bytes
// depend only on the inputs: no timestamps. prepareRootfs reads it at start,
// `keel prune` reads it to keep what containers use.

import path from 'node:path';
import { KeelError } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import { readIfExists } from './fs-util.ts';
import type { MountPointKind } from './mount-point.ts';
import { BUNDLE_FORMAT } from './renderer-version.ts';

export const BUNDLE_RECORD = 'keel-bundle.json';

export interface BundleRecord {
  readonly format: number;
  readonly keelVersion: string;
  readonly name: string;
  /** sha256 of the canonical rendered inputs (spec, image digest, renderer, host facts). */
  readonly inputsDigest: Digest;
  /** sha256 of config.json's bytes. */
  readonly configDigest: Digest;
  readonly image: { readonly name: string; readonly digest: Digest; readonly diffIds: readonly Digest[]; readonly mediaType?: string | undefined };
  /** The shared tree: root.path (read-only rootfs) or the overlay's lowerdir (writable). */
  readonly sharedRootfs: string;
  readonly writable: boolean;
  /** Host directories to create before start (mounts with create: true). */
  readonly createSources: readonly string[];
  /** Mount points keel keeps present in the shared tree (read-only rootfs only). */
  readonly mountPoints: ReadonlyArray<{ readonly path: string; readonly kind: MountPointKind }>;
  /** The rendered spec (canonical JSON, no source position): what `keel apply --dry-run` diffs against. Absent in older records. */
  readonly spec?: Readonly<Record<string, unknown>> | undefined;
}

export function serializeBundleRecord(r: BundleRecord): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

/** The record of a bundle directory, or undefined if it has none (never rendered, or incomplete). */
export async function readBundleRecord(bundleDir: string): Promise<BundleRecord | undefined> {
  const bytes = await readIfExists(path.join(bundleDir, BUNDLE_RECORD));
  if (bytes === undefined) return undefined;
  let r: BundleRecord;
  try {
    r = JSON.parse(bytes.toString('utf8')) as BundleRecord;
  } catch {
    throw new KeelError('E_STORE_CORRUPT', `${path.join(bundleDir, BUNDLE_RECORD)} is not JSON`, { hint: 'render the container again (keel apply)' });
  }
  if (r.format !== BUNDLE_FORMAT) return undefined;
  return r;
}

/** keel-failed.json: written into a slot whose deployment failed an update's health gate (rendering the slot again removes it). */
export const FAILED_MARK = 'keel-failed.json';

export interface DeploymentFailure {
  readonly at: string;
  readonly code: string;
  readonly message: string;
}

export async function markDeploymentFailed(bundleDir: string, failure: DeploymentFailure): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path.join(bundleDir, FAILED_MARK), `${JSON.stringify(failure, null, 2)}\n`, { mode: 0o600 });
}

export async function readDeploymentFailure(bundleDir: string): Promise<DeploymentFailure | undefined> {
  const bytes = await readIfExists(path.join(bundleDir, FAILED_MARK));
  if (bytes === undefined) return undefined;
  try {
    const f = JSON.parse(bytes.toString('utf8')) as Partial<DeploymentFailure>;
    return { at: String(f.at ?? ''), code: String(f.code ?? 'E_UPDATE_ROLLED_BACK'), message: String(f.message ?? '') };
  } catch {
    return { at: '', code: 'E_UPDATE_ROLLED_BACK', message: 'unreadable failure record' };
  }
}
