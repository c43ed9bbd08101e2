// keel's command line: global options, command dispatch, help, and the single
// place where a thrown KeelError becomes a message and an exit status.

import module from 'node:module';
import { parseArgs } from 'node:util';
import { KeelError } from '../errors.ts';
import type { Command, CommandEntry, OptionSpec } from './command.ts';
import { GLOBAL_DEFAULTS, type GlobalOptions } from './context.ts';
import { asKeelError, exitStatusFor, formatError } from './exit.ts';
import { docPath } from '../util/doc-path.ts';
import { VERSION } from '../version.ts';

/**
 * Every command, loaded only when it runs: `keel status` need not load the
 * registry client, nor `keel pull` the D-Bus library (start-up time matters at boot).
 */
export const COMMANDS: readonly CommandEntry[] = [
  { name: 'pull', summary: 'pull images into the store', load: async () => (await import('./commands/pull.ts')).pull },
  { name: 'images', summary: 'list the images in the store', load: async () => (await import('./commands/images.ts')).images },
  { name: 'rmi', summary: 'remove image names from the store', load: async () => (await import('./commands/rmi.ts')).rmi },
  { name: 'prune', summary: 'delete blobs and extracted layers no image uses', load: async () => (await import('./commands/prune.ts')).prune },
  { name: 'check', summary: 'verify every blob and extracted layer in the store', load: async () => (await import('./commands/check.ts')).check },
  { name: 'unpack', summary: 'write an OCI runtime bundle (rootfs + config.json) for a stored image', load: async () => (await import('./commands/unpack.ts')).unpack },
  { name: 'validate', summary: 'check system-container manifests', load: async () => (await import('./commands/validate.ts')).validate },
  { name: 'apply', summary: 'run the system containers of manifests as systemd units', load: async () => (await import('./commands/apply.ts')).apply },
  { name: 'status', summary: 'show the system containers and their units', load: async () => (await import('./commands/status.ts')).status },
  { name: 'logs', summary: "show a system container's journal", load: async () => (await import('./commands/logs.ts')).logs },
  { name: 'exec', summary: 'run a command in a running system container', load: async () => (await import('./commands/exec.ts')).exec },
  { name: 'update', summary: 'update containers to their images\' current digests, health-gated, rolling back on failure', load: async () => (await import('./commands/update.ts')).update },
  { name: 'rollback', summary: 'switch containers back to their previous deployment', load: async () => (await import('./commands/rollback.ts')).rollback },
  { name: 'remove', summary: 'stop and unregister system containers, delete their bundles', load: async () => (await import('./commands/remove.ts')).remove },
  { name: 'boot', summary: 'bring the system containers back at boot (run by keel.service)', load: async () => (await import('./commands/boot.ts')).boot },
  { name: 'completion', summary: 'print the shell completion script (bash)', load: async () => (await import('./commands/completion.ts')).completion },
];

const COMPILE_CACHE = '/var/cache/keel/node-compile-cache';

export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  root: { type: 'string', value: 'DIR', help: `the store (default ${GLOBAL_DEFAULTS.root})` },
  config: { type: 'string', value: 'FILE', help: `registry mirrors, insecure registries, auth file (default ${GLOBAL_DEFAULTS.config})` },
  manifests: { type: 'string', value: 'DIR', help: `the manifest directory (default ${GLOBAL_DEFAULTS.manifests})` },
  debug: { type: 'boolean', help: 'print stack traces with errors' },
  help: { type: 'boolean', short: 'h', help: 'show help' },
  version: { type: 'boolean', help: 'print the version' },
};

function usageError(message: string, command?: Command): KeelError {
  return new KeelError('E_USAGE', message, { hint: command ? `see 'keel ${command.name} --help'` : `see 'keel --help'` });
}

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  return Object.entries(options).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ` ${spec.value}` : ''}`;
    return `  ${flag.padEnd(34)} ${spec.help}`;
  });
}

export function mainHelp(): string {
  return [
    'keel — run system containers (etcd, kubelet, the network agent) as systemd units',
    '',
    'Usage: keel [GLOBAL OPTIONS] COMMAND [ARGS...]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`),
    '',
    'Global options (before or after the command):',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    `Run 'keel COMMAND --help' for a command's options. Exit statuses and error codes: ${docPath('errors.md')}`,
    '',
  ].join('\n');
}

export function commandHelp(command: Command): string {
  const lines = [`Usage: ${command.usage}`, '', command.description, ''];
  if (Object.keys(command.options).length > 0) lines.push('Options:', ...optionLines(command.options), '');
  lines.push('Global options:', ...optionLines(GLOBAL_OPTIONS), '');
  return lines.join('\n');
}

/** Finds the command word: the first argument that is not a global option or its value. */
function findCommand(argv: readonly string[]): { index: number; entry: CommandEntry | undefined; word: string | undefined } {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') break;
    if (arg.startsWith('-')) {
      const name = arg.replace(/^--?/, '').split('=')[0] ?? '';
      const spec = GLOBAL_OPTIONS[name];
      if (spec?.type === 'string' && !arg.includes('=')) i++;
      continue;
    }
    return { index: i, entry: COMMANDS.find((c) => c.name === arg), word: arg };
  }
  return { index: -1, entry: undefined, word: undefined };
}

export async function main(argv: readonly string[], signal: AbortSignal): Promise<number> {
  const { index, entry, word } = findCommand(argv);
  if (word !== undefined && entry === undefined) {
    const { didYouMean } = await import('../manifest/suggest.ts');
    const hint = didYouMean(word, COMMANDS.map((c) => c.name));
    throw new KeelError('E_USAGE', `unknown command ${JSON.stringify(word)}${hint ? `; ${hint}` : ''}`, { hint: `see 'keel --help'` });
  }
  const command = await entry?.load();

  const specs = { ...GLOBAL_OPTIONS, ...(command?.options ?? {}) };
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.type === 'string' && spec.multiple ? { multiple: true } : {}) };
  }
  const args = index >= 0 ? [...argv.slice(0, index), ...argv.slice(index + 1)] : [...argv];
  const dashdash = args.indexOf('--');
  const rest = dashdash >= 0 ? args.slice(dashdash + 1) : [];
  let parsed;
  try {
    parsed = parseArgs({ args: dashdash >= 0 ? args.slice(0, dashdash) : args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional.*$/s, '');
    const unknown = /Unknown option '(--?[^']+)'/.exec(message)?.[1];
    if (unknown !== undefined) {
      const { didYouMean } = await import('../manifest/suggest.ts');
      const hint = didYouMean(unknown.replace(/^--?/, ''), Object.keys(specs));
      throw usageError(`unknown option ${unknown}${command ? ` for keel ${command.name}` : ''}${hint ? `; ${hint.replace(/did you mean (\S+)\?/, 'did you mean --$1?')}` : ''}`, command);
    }
    throw usageError(message, command);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (values.version) {
    process.stdout.write(`keel ${VERSION}\n`);
    return 0;
  }
  if (!command) {
    process.stdout.write(mainHelp());
    return values.help ? 0 : 64;
  }
  if (values.help) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  const positionals = parsed.positionals;
  if (positionals.length < command.minArgs) throw usageError(`${command.name}: missing argument (usage: ${command.usage})`, command);
  if (positionals.length > command.maxArgs) throw usageError(`${command.name}: too many arguments (usage: ${command.usage})`, command);
  const str = (v: unknown, fallback: string): string => (typeof v === 'string' && v !== '' ? v : fallback);
  const global: GlobalOptions = {
    root: str(values.root, GLOBAL_DEFAULTS.root),
    config: str(values.config, GLOBAL_DEFAULTS.config),
    manifests: str(values.manifests, GLOBAL_DEFAULTS.manifests),
    debug: values.debug === true,
  };
  return command.run({ global, values, positionals, rest, signal, table: { commands: COMMANDS, globalOptions: GLOBAL_OPTIONS } });
}

/** keel's oldest Node.js major version. */
export const MIN_NODE_MAJOR = 24;

/** E_NODE_TOO_OLD when `version` (process.versions.node) is older than keel needs. */
export function nodeTooOld(version: string): KeelError | undefined {
  const major = Number(version.split('.')[0]);
  if (Number.isInteger(major) && major >= MIN_NODE_MAJOR) return undefined;
  return new KeelError('E_NODE_TOO_OLD', `Node.js ${version} is too old; keel needs Node.js ${MIN_NODE_MAJOR} or newer`, {
    detail: { node: version },
    hint: `run keel as /usr/bin/keel (installed) or bin/keel (checkout): each runs the Node.js ${MIN_NODE_MAJOR} keel ships`,
  });
}

/** The process entry: signals, errors, exit status. */
export async function run(): Promise<void> {
  // Compiled code is cached between runs (root only; a failure just means no cache).
  if (process.getuid?.() === 0 && !process.env.NODE_COMPILE_CACHE) module.enableCompileCache?.(COMPILE_CACHE);
  const tooOld = nodeTooOld(process.versions.node);
  if (tooOld !== undefined) {
    process.stderr.write(formatError(tooOld, false));
    process.exitCode = exitStatusFor(tooOld);
    return;
  }
  // A reader that goes away (keel images | head) ends the command quietly, as ls and systemctl do.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (name: string): void => {
    if (++signals > 1) process.exit(130);
    controller.abort(new KeelError('E_INTERRUPTED', `interrupted by ${name}; cleaning up`));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const argv = process.argv.slice(2);
  try {
    process.exitCode = await main(argv, controller.signal);
  } catch (err) {
    const keelError = controller.signal.aborted && !(err instanceof KeelError) ? (controller.signal.reason as KeelError) : asKeelError(err);
    process.stderr.write(formatError(keelError, argv.includes('--debug')));
    process.exitCode = exitStatusFor(keelError);
  }
}
