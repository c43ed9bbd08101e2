// keel boot [--pull-for NAME]: what units/keel.service runs at boot.

import { promises as fs } from 'node:fs';
import { bootContainers, pullForContainer } from '../../ops/boot.ts';
import type { Command } from '../command.ts';
import { openStore, selfArgv, sourceOptions } from '../context.ts';
import { printOutcomes } from '../report.ts';

export const boot: Command = {
  name: 'boot',
  usage: 'keel boot [--json] [--pull-for NAME]',
  description: `Brings the system containers of the --manifests directory (default
/etc/keel/manifests.d) back at boot, the way keel.service runs it — without waiting
for the network: every container whose image is in the store is registered and
started at once, in dependency order, on the image digest its last apply pinned (a
tag that moved since changes nothing). A container whose image is missing does not
fail the boot: a transient keel-pull-NAME.service, ordered after
network-online.target, pulls it with retries and backoff (each failure in its
journal with the error code) and then starts it and what requires it. An absent or
empty directory is not an error.

--pull-for NAME is what that unit runs: pull NAME's image until it succeeds, then
boot again.`,
  options: {
    json: { type: 'boolean', help: 'print the outcomes as JSON' },
    'pull-for': { type: 'string', value: 'NAME', help: "pull NAME's image with retries, then boot (run by keel-pull-NAME.service)" },
  },
  minArgs: 0,
  maxArgs: 0,
  async run({ global, values, signal }) {
    const log = (line: string): void => {
      process.stderr.write(`${line}\n`);
    };
    const entries = await fs.readdir(global.manifests).catch(() => [] as string[]);
    if (!entries.some((e) => /\.ya?ml$/.test(e))) {
      log(`keel boot: no manifests in ${global.manifests}; nothing to start`);
      return 0;
    }
    const store = await openStore(global);
    const source = await sourceOptions(global, undefined);
    const pullFor = typeof values['pull-for'] === 'string' ? values['pull-for'] : undefined;
    if (pullFor !== undefined) await pullForContainer(store, pullFor, { files: [global.manifests], source, log, signal });
    const result = await bootContainers(store, { files: [global.manifests], source, signal, log, self: selfArgv(global) });
    return printOutcomes(result.plan, result.outcomes, values.json === true);
  },
};
