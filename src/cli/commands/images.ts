// keel images [--json]

import { listImages } from '../../ops/images.ts';
import type { Command } from '../command.ts';
import { openExistingStore } from '../context.ts';
import { CODES, Exit, isKeelError, type ErrorCode } from '../../errors.ts';
import { shortDigest } from '../../plan/index.ts';
import { formatBytes, table } from '../format.ts';

export const images: Command = {
  name: 'images',
  usage: 'keel images [--json]',
  description: `Lists every image name in the store with its manifest digest, platform, layer
count and compressed size. --json prints an array of objects with the full digests.
Each image is read on its own: one whose manifest, config or layers are missing or
damaged is still listed (LAYERS and SIZE '-', with "problem" in --json), the reason
goes to stderr, and the exit status is ${Exit.DATAERR} (E_STORE_CORRUPT); 'keel pull' of that
image repairs it. Reads only: a --root that holds no store lists nothing (and
creates nothing).`,
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
    } else {
      process.stdout.write(
        table(
          ['NAME', 'DIGEST', 'PLATFORM', 'LAYERS', 'SIZE'],
          list.map((i) =>
            i.problem && i.layers === 0
              ? [i.name, shortDigest(i.digest), i.platform, '-', '-']
              : [i.name, shortDigest(i.digest), i.platform, String(i.layers), formatBytes(i.size)],
          ),
        ),
      );
    }
    // The intact images are listed; each broken one is named on stderr, and the status says so.
    let status = 0;
    for (const i of list) {
      if (!i.problem) continue;
      const code = (i.problem.code in CODES ? i.problem.code : 'E_STORE_CORRUPT') as ErrorCode;
      process.stderr.write(`keel: error: image ${i.name} is broken: ${i.problem.message} [${code}]\n`);
      if (i.problem.hint) process.stderr.write(`keel: hint: ${i.problem.hint}\n`);
      status ||= CODES[code].exit;
    }
    return status;
  },
};
