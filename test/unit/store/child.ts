// A helper process for the multi-process store tests (not a test itself).
//   child.ts write ROOT DIGEST SIZE FILL   write a blob of SIZE bytes of FILL slowly; prints {"reads":N}
//   child.ts exit-holding ROOT NAME        take blob lock NAME (a digest), then process.exit(0) inside it
//   child.ts shared ROOT MS                hold the shared lock for MS milliseconds; prints "held" once held
//   child.ts open ROOT                     open (create) the store and exit; prints "opened"

import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Digest } from '../../../src/oci/digest.ts';
import { Store } from '../../../src/store/index.ts';

const [mode, root, a, b, c] = process.argv.slice(2);
const store = await Store.open(root ?? '', { create: true, lockTimeoutMs: 20_000 });

if (mode === 'write') {
  const size = Number(b);
  const data = Buffer.alloc(size, Number(c));
  let offset = 0;
  let reads = 0;
  const source = new Readable({
    read() {
      reads++;
      if (offset >= size) return void this.push(null);
      setTimeout(() => {
        this.push(data.subarray(offset, offset + 64 * 1024));
        offset += 64 * 1024;
      }, 2);
    },
  });
  await store.writeBlob({ digest: a as Digest, size }, source);
  process.stdout.write(`${JSON.stringify({ reads })}\n`);
} else if (mode === 'exit-holding') {
  await store.withBlobLock(a as Digest, async () => {
    process.exit(0);
  });
} else if (mode === 'open') {
  process.stdout.write('opened\n');
} else if (mode === 'shared') {
  await store.withSharedLock(async () => {
    process.stdout.write('held\n');
    await sleep(Number(a));
  });
}
