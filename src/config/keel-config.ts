// The shape of /etc/keel/keel.yaml and its validation. A config value is built
// only by validateConfig, so every registry key and mirror is a well-formed
// host[:port], every flag a boolean, and the whole value is frozen. Unknown
// keys and wrong types are errors (E_CONFIG_INVALID naming the key path):
// a typo in a security setting must never be silently ignored.

import { KeelError } from '../errors.ts';

export interface RegistryConfig {
  /** Mirrors (host[:port]) tried in order before the registry itself. */
  readonly mirrors: readonly string[];
  /** Allow plain HTTP and unverified TLS for this host. */
  readonly insecure: boolean;
}

export interface KeelConfig {
  readonly registries: Readonly<Record<string, RegistryConfig>>;
  /** An auth file (auth.json format) used instead of the default search. */
  readonly authFile?: string | undefined;
}

export const DEFAULT_CONFIG: KeelConfig = Object.freeze({ registries: Object.freeze({}) });

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/** Whether `value` is a registry host as keel accepts it: `name[:port]`, `a.b.c.d:port`, `[::1]:port`. */
export function isRegistryHost(value: string): boolean {
  return value.length <= 255 && HOST.test(value);
}

function keyPath(parent: string, key: string): string {
  const plain = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key);
  const part = plain ? key : JSON.stringify(key);
  return parent === '' ? part : `${parent}.${part}`;
}

function invalid(source: string, path: string, problem: string): never {
  throw new KeelError('E_CONFIG_INVALID', `${source}: ${path === '' ? 'the document' : path}: ${problem}`, {
    detail: { file: source, key: path },
    hint: 'fix the key in the configuration file (see docs/registries.md for its shape)',
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v}`;
}

function validateRegistry(source: string, path: string, v: unknown): RegistryConfig {
  if (v === null || v === undefined) return Object.freeze({ mirrors: Object.freeze([]), insecure: false });
  if (!isObject(v)) invalid(source, path, `expected a mapping with mirrors/insecure, got ${typeName(v)}`);
  let mirrors: readonly string[] = [];
  let insecure = false;
  for (const [key, value] of Object.entries(v)) {
    const p = keyPath(path, key);
    if (key === 'mirrors') {
      if (!Array.isArray(value)) invalid(source, p, `expected a list of host[:port], got ${typeName(value)}`);
      mirrors = value.map((m, i) => {
        if (typeof m !== 'string') invalid(source, `${p}[${i}]`, `expected a string, got ${typeName(m)}`);
        if (!isRegistryHost(m)) invalid(source, `${p}[${i}]`, `${JSON.stringify(m)} is not a host[:port]`);
        return m;
      });
    } else if (key === 'insecure') {
      if (typeof value !== 'boolean') invalid(source, p, `expected true or false, got ${typeName(value)}`);
      insecure = value;
    } else {
      invalid(source, p, 'unknown key (allowed: mirrors, insecure)');
    }
  }
  return Object.freeze({ mirrors: Object.freeze([...mirrors]), insecure });
}

/**
 * Checks a parsed document against the KeelConfig shape. `source` names the
 * file in messages. null/undefined (an empty file) gives the defaults.
 */
export function validateConfig(doc: unknown, source = 'keel.yaml'): KeelConfig {
  if (doc === null || doc === undefined) return DEFAULT_CONFIG;
  if (!isObject(doc)) invalid(source, '', `expected a mapping at the top level, got ${typeName(doc)}`);
  const registries: Record<string, RegistryConfig> = {};
  let authFile: string | undefined;
  for (const [key, value] of Object.entries(doc)) {
    if (key === 'registries') {
      if (value === null) continue;
      if (!isObject(value)) invalid(source, key, `expected a mapping of registry host to settings, got ${typeName(value)}`);
      for (const [host, settings] of Object.entries(value)) {
        const p = keyPath(key, host);
        if (!isRegistryHost(host)) invalid(source, p, `${JSON.stringify(host)} is not a registry host[:port]`);
        registries[host] = validateRegistry(source, p, settings);
      }
    } else if (key === 'authFile') {
      if (typeof value !== 'string' || value === '') invalid(source, key, `expected a file path, got ${typeName(value)}`);
      if (!value.startsWith('/')) invalid(source, key, `${JSON.stringify(value)} must be an absolute path`);
      authFile = value;
    } else {
      invalid(source, keyPath('', key), 'unknown key (allowed: registries, authFile)');
    }
  }
  const base = { registries: Object.freeze(registries) };
  return Object.freeze(authFile === undefined ? base : { ...base, authFile });
}

/** The settings for one registry host; defaults when the config does not list it. */
export function registryConfig(config: KeelConfig, host: string): RegistryConfig {
  return Object.hasOwn(config.registries, host)
    ? (config.registries[host] as RegistryConfig)
    : { mirrors: [], insecure: false };
}
