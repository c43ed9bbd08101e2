// keel remove NAME: stop and unregister NAME.service and its keep-alive
// slice, delete a stale runc state of the same id, delete the container's
// bundles and keel's record. Host state directories (bind-mount sources such
// as /var/lib/etcd) are never touched. Invariants: a unit keel did not create
// is refused (E_UNIT_EXISTS) before anything changes; each step is idempotent,
// so a remove interrupted half-way is completed by running it again.

import { promises as fs } from 'node:fs';
import { KeelError, errnoCode } from '../errors.ts';
import { containerDir } from '../bundle/index.ts';
import { removeAppliedRecord, runcDelete, runcPath } from '../runtime/index.ts';
import { SystemdClient } from '../systemd/index.ts';
import { ownedUnit, unregister } from './container-units.ts';
import { removeContainerBundles } from './render.ts';

export interface RemoveOptions {
  readonly root: string;
  readonly busAddress?: string | undefined;
  readonly recordDir?: string | undefined;
  readonly runc?: string | undefined;
  readonly runcRoot?: string | undefined;
}

export interface RemoveResult {
  readonly unitRemoved: boolean;
  readonly runcStateRemoved: boolean;
  readonly bundlesRemoved: boolean;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

export async function removeContainer(name: string, options: RemoveOptions): Promise<RemoveResult> {
  const unit = `${name}.service`;
  const dir = containerDir(options.root, name); // checks the name
  const client = await SystemdClient.connect({ address: options.busAddress });
  let unitRemoved = false;
  let hadRecord = false;
  try {
    const { state, record } = await ownedUnit(client, name, unit, options.recordDir);
    hadRecord = record !== undefined;
    if (state.loadState !== 'not-found') {
      await unregister(client, unit);
      unitRemoved = true;
    } else {
      await unregister(client, unit); // a keep-alive slice left alone by a crash
    }
  } finally {
    await client.close();
  }
  const runcStateRemoved = await runcDelete({ runc: options.runc ?? runcPath(), root: options.runcRoot }, name);
  const bundlesRemoved = await exists(dir);
  await removeContainerBundles(options.root, name);
  await removeAppliedRecord(name, options.recordDir);
  if (!unitRemoved && !runcStateRemoved && !bundlesRemoved && !hadRecord) {
    throw new KeelError('E_UNIT_NOT_FOUND', `keel has no system container named ${name}: no unit, no runc state, no bundle`, {
      hint: 'see keel status for the list',
    });
  }
  return { unitRemoved, runcStateRemoved, bundlesRemoved };
}
