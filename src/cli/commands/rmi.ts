// keel rmi IMAGE...

import { removeImage } from '../../ops/images.ts';
import type { Command } from '../command.ts';
import { openStoreToChange } from '../context.ts';

export const rmi: Command = {
  name: 'rmi',
  usage: 'keel rmi IMAGE...',
  description: `Removes each IMAGE's name from the store. Its blobs and extracted layers stay until
'keel prune' finds nothing else uses them. IMAGE is a name as pulled ('etcd' means
docker.io/library/etcd:latest) or a digest prefix of at least 12 hex digits. A --root that
holds no store is E_STORE_NOT_FOUND (66); none is created.`,
  options: {},
  minArgs: 1,
  maxArgs: Infinity,
  async run({ global, positionals }) {
    const store = await openStoreToChange(global);
    for (const image of positionals) {
      const removed = await removeImage(store, image);
      process.stdout.write(`untagged ${removed.name} (${removed.digest})\n`);
    }
    return 0;
  },
};
