// The shape of /etc/keel/keel.yaml and its validation. The format is defined
// once, in CONFIG_DOCUMENT (the manifest key-table language, src/manifest/
// field-types.ts), and checked by the manifest validator's machinery: every
// problem at once, file:line:column, "did you mean" for unknown keys. A
// config value is built only from a checked document, so every registry key
// and mirror is a well-formed host[:port], every flag a boolean, and the whole
// value is frozen. Unknown keys and wrong types are errors (E_CONFIG_INVALID):
// a typo in a security setting must never be silently ignored.

import { KeelError } from '../errors.ts';
import type { ObjectType } from '../manifest/field-types.ts';
import { formatProblem, type ManifestProblem } from '../manifest/problem.ts';
import { validatePlainValue } from '../manifest/yaml-document.ts';
import { docPath } from '../util/doc-path.ts';

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

const HOST_TYPE = { kind: 'string', pattern: HOST, patternHelp: 'a registry host[:port]', maxLength: 255 } as const;

/** Every key keel.yaml may hold (docs/registries.md lists each; a unit test checks). */
export const CONFIG_DOCUMENT: ObjectType = {
  kind: 'object',
  fields: {
    registries: {
      description: 'settings per registry host, as written in image references (docker.io, quay.io, 10.0.0.5:5000)',
      type: {
        kind: 'map',
        keyPattern: HOST,
        keyHelp: 'a registry host[:port]',
        values: {
          kind: 'object',
          fields: {
            mirrors: {
              description: 'mirrors (host[:port]) tried in order before the registry itself',
              type: { kind: 'array', items: HOST_TYPE, uniqueItems: true },
              default: [],
            },
            insecure: {
              description: 'allow plain HTTP and unverified TLS certificates for this exact host:port',
              type: { kind: 'boolean' },
              default: false,
            },
          },
        },
      },
    },
    authFile: {
      description: 'the one auth file to read (auth.json format) instead of the default search',
      type: { kind: 'string', pattern: /^\//, patternHelp: 'an absolute path', minLength: 1, maxLength: 4096 },
    },
  },
};

/** One E_CONFIG_INVALID listing every problem. */
export function configProblemsError(problems: readonly ManifestProblem[]): KeelError {
  const shown = problems.slice(0, 20).map(formatProblem);
  const more = problems.length > shown.length ? `\n… and ${problems.length - shown.length} more` : '';
  const file = problems[0]?.file;
  return new KeelError('E_CONFIG_INVALID', `${problems.length} problem${problems.length === 1 ? '' : 's'} in the keel configuration:\n${shown.join('\n')}${more}`, {
    detail: { file, problems: problems.map((p) => ({ ...p })) },
    hint: `fix each key in the configuration file; ${docPath('registries.md')} lists every key`,
  });
}

/** Builds the frozen KeelConfig from a checked document (null: an empty file). */
export function configFromChecked(doc: Record<string, unknown> | null): KeelConfig {
  if (doc === null) return DEFAULT_CONFIG;
  const registries: Record<string, RegistryConfig> = {};
  const raw = (doc['registries'] ?? {}) as Record<string, { mirrors?: string[]; insecure?: boolean }>;
  for (const [host, settings] of Object.entries(raw)) {
    registries[host] = Object.freeze({ mirrors: Object.freeze([...(settings.mirrors ?? [])]), insecure: settings.insecure ?? false });
  }
  const base = { registries: Object.freeze(registries) };
  const authFile = doc['authFile'] as string | undefined;
  return Object.freeze(authFile === undefined ? base : { ...base, authFile });
}

/**
 * Checks an in-memory value against the keel.yaml shape (CONFIG_DOCUMENT);
 * `source` names it in messages. null/undefined gives the defaults. Files
 * go through loadConfig, whose problems also carry line:column.
 */
export function validateConfig(doc: unknown, source = 'keel.yaml'): KeelConfig {
  const r = validatePlainValue(doc, source, CONFIG_DOCUMENT);
  if (r.problems.length > 0 || r.value === undefined) throw configProblemsError(r.problems);
  return configFromChecked(r.value);
}

/** The settings for one registry host; defaults when the config does not list it. */
export function registryConfig(config: KeelConfig, host: string): RegistryConfig {
  return Object.hasOwn(config.registries, host)
    ? (config.registries[host] as RegistryConfig)
    : { mirrors: [], insecure: false };
}
