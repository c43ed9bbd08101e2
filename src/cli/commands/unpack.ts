// keel unpack IMAGE DIR

import { unpackImage } from '../../ops/unpack.ts';
import type { Command } from '../command.ts';
import { openExistingStore } from '../context.ts';
import { formatBytes } from '../format.ts';

export const unpack: Command = {
  name: 'unpack',
  usage: 'keel unpack IMAGE DIR',
  description: `Creates DIR (or uses it if empty) as an OCI runtime bundle: DIR/rootfs with every layer
of IMAGE applied, and DIR/config.json derived from the image config (entrypoint, cmd,
env, user, working directory) with runc's conservative defaults and terminal: false.
The result matches 'umoci unpack' of the same image. IMAGE must be in the store
(keel pull it first). The rootfs is a private copy: changing it never changes the store.`,
  options: {},
  minArgs: 2,
  maxArgs: 2,
  async run({ global, positionals, signal }) {
    const [image, dir] = positionals as [string, string];
    const store = await openExistingStore(global);
    const result = await unpackImage(store, image, dir, { signal });
    for (const w of result.warnings) process.stderr.write(`keel: warning: ${result.name}: ${w}\n`);
    process.stdout.write(`${result.bundle}: ${result.name} (${result.digest}), ${result.entries} entries, ${formatBytes(result.bytes)}\n`);
    return 0;
  },
};
