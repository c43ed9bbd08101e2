// keel remove NAME...

import { removeContainer } from '../../ops/remove.ts';
import type { Command } from '../command.ts';

export const remove: Command = {
  name: 'remove',
  usage: 'keel remove NAME...',
  description: `Stops NAME.service, unregisters it and its keep-alive slice, deletes a stale runc
state of the same id, and deletes the container's bundles. Host state directories
(bind-mount sources such as /var/lib/etcd) are kept. A unit keel did not create is
refused. The image stays in the store (keel rmi / keel prune remove it).`,
  options: {},
  minArgs: 1,
  maxArgs: Infinity,
  async run({ global, positionals }) {
    for (const name of positionals) {
      const r = await removeContainer(name, { root: global.root });
      process.stdout.write(`${name} removed${r.unitRemoved ? '' : ' (no unit was loaded)'}\n`);
    }
    return 0;
  },
};
