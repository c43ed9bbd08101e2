// The executable entry point (bin/keel runs dist/cli/entry.js).

import { run } from './main.ts';

await run();
