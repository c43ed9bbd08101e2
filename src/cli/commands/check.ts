// keel check [--json]

import { Exit } from '../../errors.ts';
import { checkStore } from '../../ops/maintenance.ts';
import type { Command } from '../command.ts';
import { openExistingStore } from '../context.ts';

export const check: Command = {
  name: 'check',
  usage: 'keel check [--json]',
  description: `Re-hashes every blob against its digest and every extracted layer against the
fingerprint recorded when it was extracted, and checks that every image name reaches
a complete image. Exits 0 only when the store is consistent; otherwise names each
problem and exits ${Exit.DATAERR} (E_STORE_CORRUPT). An extracted layer found changed is set
aside, and a blob that does not hash to its name removed, at once, so nothing new is built
from them; 'keel pull' of an image that uses them extracts or fetches them again. 'keel pull'
of the affected image repairs a missing blob or layer the same way.
Otherwise it only reads: a --root that holds no store is E_STORE_NOT_FOUND (${Exit.NOINPUT}),
and nothing is created. SIGINT/SIGTERM stop it (E_INTERRUPTED).`,
  options: { json: { type: 'boolean', help: 'print the problems as JSON' } },
  minArgs: 0,
  maxArgs: 0,
  async run({ global, values, signal }) {
    const store = await openExistingStore(global);
    const problems = await checkStore(store, signal);
    if (values.json) process.stdout.write(`${JSON.stringify({ ok: problems.length === 0, problems }, null, 2)}\n`);
    else if (problems.length === 0) process.stdout.write(`store ${store.root} is consistent\n`);
    else for (const p of problems) process.stdout.write(`${p.kind}: ${p.path}: ${p.message}\n`);
    if (problems.length > 0) {
      process.stderr.write(`keel: error: the store has ${problems.length} problem(s) [E_STORE_CORRUPT]\n`);
      return Exit.DATAERR;
    }
    return 0;
  },
};
