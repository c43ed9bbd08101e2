// Global options and the objects a command needs, built lazily from them
// (and imported lazily: a command loads only the modules it uses).

import type { KeelConfig } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import type { SourceOptions } from '../transport/index.ts';
import { VERSION } from '../version.ts';

export interface GlobalOptions {
  readonly root: string;
  readonly config: string;
  readonly manifests: string;
  readonly debug: boolean;
}

export const GLOBAL_DEFAULTS: GlobalOptions = {
  root: '/var/lib/keel',
  config: '/etc/keel/keel.yaml',
  manifests: '/etc/keel/manifests.d',
  debug: false,
};

export async function openStore(global: GlobalOptions): Promise<Store> {
  const { Store } = await import('../store/index.ts');
  return Store.open(global.root, { create: true });
}

/** Opens an existing store to change it (prune, rmi): nothing to change where there is no store, so none is created (E_STORE_NOT_FOUND). */
export async function openStoreToChange(global: GlobalOptions): Promise<Store> {
  const { Store } = await import('../store/index.ts');
  return Store.open(global.root, { create: false });
}

/** Opens the store to read it: nothing is created or changed; no store is E_STORE_NOT_FOUND. */
export async function openExistingStore(global: GlobalOptions): Promise<Store> {
  const { Store } = await import('../store/index.ts');
  return Store.open(global.root, { create: false, readOnly: true });
}

/**
 * The store for a command that only reads it (a dry run): the existing store,
 * or, where there is none, an empty view of the same path — nothing is created.
 */
export async function storeViewForReading(global: GlobalOptions): Promise<Pick<Store, 'root' | 'getRef'>> {
  const { Store } = await import('../store/index.ts');
  const path = await import('node:path');
  const { existsSync } = await import('node:fs');
  if (!existsSync(global.root)) return { root: path.resolve(global.root), getRef: async () => undefined };
  return Store.open(global.root, { create: false, readOnly: true });
}

/** keel's own argv prefix (node and its flags as bin/keel passes them, its entry script, the global options), for units that run keel. */
export function selfArgv(global: GlobalOptions): string[] {
  const entry = process.argv[1] ?? '';
  return [process.execPath, '--enable-source-maps', '--max-semi-space-size=1', entry, '--root', global.root, '--manifests', global.manifests, '--config', global.config];
}

export async function sourceOptions(global: GlobalOptions, authFile: string | undefined): Promise<SourceOptions> {
  const { loadConfig } = await import('../config/index.ts');
  const config: KeelConfig = await loadConfig(global.config);
  return { registry: { config, authFile, userAgent: `keel/${VERSION}` } };
}
