// keel images [--json]

import { listImages } from '../../ops/images.ts';
import type { Command } from '../command.ts';
import { openExistingStore } from '../context.ts';
import { isKeelError } from '../../errors.ts';
import { formatBytes, shortDigest, table } from '../format.ts';

export const images: Command = {
  name: 'images',
  usage: 'keel images [--json]',
  description: `Lists every image name in the store with its manifest digest, platform, layer
count and compressed size. --json prints an array of objects with the full digests.
Reads only: a --root that holds no store lists nothing (and creates nothing).`,
  options: { json: { type: 'boolean', help: 'machine-readable output' } },
  minArgs: 0,
  maxArgs: 0,
  async run({ global, values }) {
    const store = await openExistingStore(global).catch((err: unknown) => {
      if (isKeelError(err, 'E_STORE_NOT_FOUND')) return undefined;
      throw err;
    });
    const list = store === undefined ? [] : await listImages(store);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      return 0;
    }
    process.stdout.write(
      table(
        ['NAME', 'DIGEST', 'PLATFORM', 'LAYERS', 'SIZE'],
        list.map((i) => [i.name, shortDigest(i.digest), i.platform, String(i.layers), formatBytes(i.size)]),
      ),
    );
    return 0;
  },
};
