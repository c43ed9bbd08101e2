// keel's configuration file: registry mirrors, insecure registries, auth file.
export { DEFAULT_CONFIG, isRegistryHost, registryConfig, validateConfig } from './keel-config.ts';
export type { KeelConfig, RegistryConfig } from './keel-config.ts';
export { DEFAULT_CONFIG_PATH, loadConfig } from './load-config.ts';
