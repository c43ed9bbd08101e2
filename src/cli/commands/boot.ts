// keel boot: what units/keel.service runs at boot.

import { promises as fs } from 'node:fs';
import { applyManifests } from '../../ops/apply.ts';
import type { Command } from '../command.ts';
import { openStore, sourceOptions } from '../context.ts';

export const boot: Command = {
  name: 'boot',
  usage: 'keel boot',
  description: `Applies the --manifests directory (default /etc/keel/manifests.d) the way keel.service
does at boot, before the orchestrator starts: cached images are used as they are (pull
policy "missing" never reaches the network for a cached image; a failed "always" pull
falls back to the cache with a warning), bundles are re-rendered, overlays re-mounted
and the transient units registered again. An absent or empty directory is not an error.`,
  options: {},
  minArgs: 0,
  maxArgs: 0,
  async run({ global, signal }) {
    const entries = await fs.readdir(global.manifests).catch(() => [] as string[]);
    if (!entries.some((e) => /\.ya?ml$/.test(e))) {
      process.stderr.write(`keel boot: no manifests in ${global.manifests}; nothing to start\n`);
      return 0;
    }
    const store = await openStore(global);
    const source = await sourceOptions(global, undefined);
    const result = await applyManifests(store, {
      files: [global.manifests], source, signal, preferCache: true,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    for (const a of result.applied) process.stdout.write(`${a.unit} ${a.activeState}\n`);
    return 0;
  },
};
