// keel completion bash: prints the shell completion script (src/cli/completion.ts).

import { KeelError } from '../../errors.ts';
import { VERSION } from '../../version.ts';
import type { Command } from '../command.ts';
import { bashCompletion, fishCompletion, SHELLS } from '../completion.ts';
import { GLOBAL_DEFAULTS } from '../context.ts';

export const completion: Command = {
  name: 'completion',
  usage: 'keel completion bash|fish',
  description: `Prints the completion script for SHELL on stdout: commands, options, file and
directory names for options that take them, the store's containers (for status, logs,
exec, update, rollback, remove) and image names (for pull, rmi, unpack). The keel
package installs them as /usr/share/bash-completion/completions/keel and
/usr/share/fish/vendor_completions.d/keel.fish; from a checkout:

  source <(keel completion bash)
  keel completion fish | source

zsh reads the bash script after: autoload bashcompinit && bashcompinit`,
  options: {},
  minArgs: 1,
  maxArgs: 1,
  async run({ positionals, table }) {
    const shell = positionals[0] as string;
    if (!(SHELLS as readonly string[]).includes(shell)) {
      throw new KeelError('E_USAGE', `no completion for ${JSON.stringify(shell)}; keel completes in: ${SHELLS.join(', ')}`, { hint: 'keel completion bash' });
    }
    const commands = await Promise.all(table.commands.map((c) => c.load()));
    const summaries = Object.fromEntries(table.commands.map((c) => [c.name, c.summary]));
    const input = { version: VERSION, commands, globalOptions: table.globalOptions, defaultRoot: GLOBAL_DEFAULTS.root, summaries };
    process.stdout.write(shell === 'fish' ? fishCompletion(input) : bashCompletion(input));
    return 0;
  },
};
