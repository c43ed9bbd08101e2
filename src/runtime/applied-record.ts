// What keel last registered with systemd for a container: one small JSON file
// per container under /run/keel/units (a tmpfs, like systemd's transient
// units themselves, so both vanish together at reboot). The planner compares
// the planned inputs digest and unit-properties digest with this record to
// leave an unchanged running unit alone; `keel status` reads the image and
// digest from it. Invariants: written (atomically, by rename) BEFORE the unit
// is created, so a unit keel created always has a record; a missing record
// next to a transient unit of the same name means the unit is not keel's.
// The temp file of a write is a staging named for its owner (layout/staging.ts),
// so the temp file of a writer that died is removed by the next write.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode, fsError } from '../errors.ts';
import { reclaimStagings, stagingPath } from '../layout/staging.ts';

export const RECORD_DIR = '/run/keel/units';

export interface AppliedRecord {
  readonly name: string;
  readonly unit: string;
  /** The image as the manifest names it. */
  readonly image: string;
  /** The platform manifest digest the bundle was rendered from. */
  readonly imageDigest: string;
  readonly inputsDigest: string;
  readonly bundleDir: string;
  readonly slot: string;
  /** ISO time of the apply that registered the unit. */
  readonly appliedAt: string;
  /** Digest of the unit's StartTransientUnit properties (a change needs a new transient unit). */
  readonly unitDigest?: string | undefined;
  /** Each unit property's value as JSON (names what changed when unitDigest differs). */
  readonly unitSettings?: Readonly<Record<string, string>> | undefined;
  /** True from just before a (re)start until it succeeded: the unit may still run older inputs. */
  readonly pending?: boolean | undefined;
  /**
   * A tombstone: the container was removed, but systemd keeps its inactive
   * unit loaded because another unit is ordered after it (After=/Wants=).
   * Keeps the name keel's, so a later apply may re-create it.
   */
  readonly removed?: boolean | undefined;
}

function recordPath(dir: string, name: string): string {
  return path.join(dir, `${name}.json`);
}

export async function readAppliedRecord(name: string, dir: string = RECORD_DIR): Promise<AppliedRecord | undefined> {
  let text: string;
  try {
    text = await fs.readFile(recordPath(dir, name), 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw fsError(`reading keel's record of ${name}`, err);
  }
  try {
    const r = JSON.parse(text) as AppliedRecord;
    return typeof r.inputsDigest === 'string' && typeof r.bundleDir === 'string' ? r : undefined;
  } catch {
    return undefined; // a torn or foreign file: treated as no record, the next apply rewrites it
  }
}

export async function writeAppliedRecord(record: AppliedRecord, dir: string = RECORD_DIR): Promise<void> {
  const file = recordPath(dir, record.name);
  const tmp = stagingPath(dir, 'record');
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await reclaimStagings(dir);
    await fs.writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw fsError(`writing keel's record of ${record.name} in ${dir}`, err);
  }
}

export async function removeAppliedRecord(name: string, dir: string = RECORD_DIR): Promise<void> {
  try {
    await fs.rm(recordPath(dir, name), { force: true });
  } catch (err) {
    throw fsError(`removing keel's record of ${name}`, err);
  }
}

export async function listAppliedRecords(dir: string = RECORD_DIR): Promise<AppliedRecord[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw fsError(`listing keel's records in ${dir}`, err);
  }
  const out: AppliedRecord[] = [];
  for (const n of names.filter((f) => f.endsWith('.json')).sort()) {
    const r = await readAppliedRecord(n.slice(0, -'.json'.length), dir);
    if (r) out.push(r);
  }
  return out;
}
