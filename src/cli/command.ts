// The shape every CLI command has: its name, help text, its own options, and
// run(), which returns the exit status (errors are thrown as KeelError and
// mapped to statuses in exit.ts).

import type { GlobalOptions } from './context.ts';

export type OptionSpec =
  | { readonly type: 'boolean'; readonly short?: string; readonly help: string }
  | { readonly type: 'string'; readonly short?: string; readonly help: string; readonly value: string; readonly multiple?: boolean };

export interface Invocation {
  readonly global: GlobalOptions;
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  readonly positionals: readonly string[];
  /** Arguments after a literal `--`. */
  readonly rest: readonly string[];
  readonly signal: AbortSignal;
  /** The dispatcher's command table and global options (for completion: no command imports the dispatcher). */
  readonly table: { readonly commands: readonly CommandEntry[]; readonly globalOptions: Readonly<Record<string, OptionSpec>> };
}

/** A command as the dispatcher knows it before loading it: loading pulls in its dependencies. */
export interface CommandEntry {
  readonly name: string;
  /** One line for `keel --help`. */
  readonly summary: string;
  load(): Promise<Command>;
}

export interface Command {
  readonly name: string;
  readonly usage: string;
  /** Longer help: what it does, what it prints, examples. */
  readonly description: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly minArgs: number;
  readonly maxArgs: number;
  run(invocation: Invocation): Promise<number>;
}
