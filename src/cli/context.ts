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

/** Opens the store only if it exists (read-only commands must not create one). */
export async function openExistingStore(global: GlobalOptions): Promise<Store> {
  const { Store } = await import('../store/index.ts');
  return Store.open(global.root, { create: false });
}

export async function sourceOptions(global: GlobalOptions, authFile: string | undefined): Promise<SourceOptions> {
  const { loadConfig } = await import('../config/index.ts');
  const config: KeelConfig = await loadConfig(global.config);
  return { registry: { config, authFile, userAgent: `keel/${VERSION}` } };
}
