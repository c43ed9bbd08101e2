// keel prune

import { pruneStore } from '../../ops/maintenance.ts';
import type { Command } from '../command.ts';
import { openStoreToChange } from '../context.ts';
import { formatBytes } from '../format.ts';

export const prune: Command = {
  name: 'prune',
  usage: 'keel prune',
  description: `Garbage-collects the store: removes every blob and extracted layer that no image
name reaches, shared rootfs trees no container uses, and leftovers of interrupted runs
(stagings of pulls, renders and removals whose process is gone). Waits for running pulls to finish
(it takes the store's exclusive lock). A --root that holds no store is E_STORE_NOT_FOUND
(66); none is created.`,
  options: {},
  minArgs: 0,
  maxArgs: 0,
  async run({ global }) {
    const store = await openStoreToChange(global);
    const result = await pruneStore(store);
    const stagings = result.stagings > 0 ? `, ${result.stagings} leftovers of interrupted renders` : '';
    process.stdout.write(`removed ${result.blobs} blobs, ${result.layers} layers and ${result.rootfs} unused rootfs trees${stagings}, ${formatBytes(result.bytes)} freed\n`);
    return 0;
  },
};
