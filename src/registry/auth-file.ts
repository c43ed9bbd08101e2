// Registry credentials from auth files in the containers-auth.json and
// ~/.docker/config.json formats: {"auths": {"<host>[/<namespace>]": {"auth":
// base64("user:pass")}}}. Which files are read (see docs/registries.md):
//
//   1. --authfile FILE, if given: only that file (it must exist);
//   2. else authFile from keel.yaml: only that file (it must exist);
//   3. else every existing one of, first match wins:
//      $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json
//      (/run/containers/<uid>/auth.json when XDG_RUNTIME_DIR is unset),
//      ~/.config/containers/auth.json, ~/.docker/config.json.
//
// Credential helpers (credHelpers, credsStore) are not run. Passwords never
// appear in errors or details.

import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { errnoCode, KeelError } from '../errors.ts';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface CredentialStore {
  /** The files that were read, in lookup order (for messages). */
  readonly files: readonly string[];
  /** Credentials for `registry` (host[:port]), most specific namespace entry first. */
  lookup(registry: string, repository?: string): Credentials | undefined;
}

const MAX_AUTH_FILE_BYTES = 1024 * 1024;

/** Normalises an auths key: strips scheme and /v1/ or /v2/ suffix, maps Docker Hub aliases. */
export function normalizeAuthKey(key: string): string {
  let k = key.trim().replace(/^[a-z]+:\/\//i, '');
  k = k.replace(/\/+(v1|v2)\/*$/, '').replace(/\/+$/, '');
  const slash = k.indexOf('/');
  const host = slash < 0 ? k : k.slice(0, slash);
  const rest = slash < 0 ? '' : k.slice(slash);
  const hub = host === 'index.docker.io' || host === 'registry-1.docker.io' || host === 'docker.io';
  return (hub ? 'docker.io' : host.toLowerCase()) + rest;
}

/** Parses one auth file's text into normalised key -> credentials. */
export function parseAuthFile(text: string, path: string): ReadonlyMap<string, Credentials> {
  const bad = (why: string): never => {
    throw new KeelError('E_AUTH_FILE', `auth file ${path}: ${why}`, {
      detail: { file: path },
      hint: 'fix the file (podman login / docker login write it), or pass --authfile with another one',
    });
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    bad('not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) bad('expected a JSON object');
  const auths = (doc as { auths?: unknown }).auths;
  const out = new Map<string, Credentials>();
  if (auths === undefined || auths === null) return out;
  if (typeof auths !== 'object' || Array.isArray(auths)) bad('"auths" must be an object');
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    if (typeof entry !== 'object' || entry === null) bad(`entry ${JSON.stringify(key)} must be an object`);
    const e = entry as { auth?: unknown; username?: unknown; password?: unknown };
    let creds: Credentials | undefined;
    if (typeof e.auth === 'string' && e.auth !== '') {
      if (!/^[A-Za-z0-9+/=\s]+$/.test(e.auth)) bad(`entry ${JSON.stringify(key)}: "auth" is not base64`);
      const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) bad(`entry ${JSON.stringify(key)}: "auth" does not decode to user:password`);
      creds = { username: decoded.slice(0, colon), password: decoded.slice(colon + 1).replace(/\n$/, '') };
    } else if (typeof e.username === 'string' && typeof e.password === 'string' && e.username !== '') {
      creds = { username: e.username, password: e.password };
    }
    if (creds) {
      const k = normalizeAuthKey(key);
      if (!out.has(k)) out.set(k, Object.freeze(creds));
    }
  }
  return out;
}

export interface AuthFileSearch {
  /** --authfile */
  readonly explicit?: string | undefined;
  /** authFile from keel.yaml */
  readonly configured?: string | undefined;
  readonly env?: NodeJS.ProcessEnv | undefined;
  readonly home?: string | undefined;
  readonly uid?: number | undefined;
}

/** The default search list (step 3 above), without checking which exist. */
export function defaultAuthFiles(env: NodeJS.ProcessEnv = process.env, home: string = homedir(), uid: number = process.getuid?.() ?? 0): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  files.push(env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json') : `/run/containers/${uid}/auth.json`);
  files.push(join(home, '.config', 'containers', 'auth.json'));
  files.push(join(home, '.docker', 'config.json'));
  return files;
}

async function readAuthFile(path: string, required: boolean): Promise<ReadonlyMap<string, Credentials> | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const errno = errnoCode(err);
    if (!required && (errno === 'ENOENT' || errno === 'ENOTDIR')) return undefined;
    throw new KeelError('E_AUTH_FILE', `reading auth file ${path}: ${(err as Error).message}`, { cause: err, detail: { file: path } });
  }
  if (bytes.byteLength > MAX_AUTH_FILE_BYTES) {
    throw new KeelError('E_AUTH_FILE', `auth file ${path} is larger than ${MAX_AUTH_FILE_BYTES} bytes`, { detail: { file: path } });
  }
  return parseAuthFile(bytes.toString('utf8'), path);
}

/** Reads the auth files the search order selects into a CredentialStore. */
export async function loadCredentials(search: AuthFileSearch = {}): Promise<CredentialStore> {
  const chosen = search.explicit ?? search.configured;
  const maps: { file: string; entries: ReadonlyMap<string, Credentials> }[] = [];
  if (chosen !== undefined) {
    const entries = await readAuthFile(chosen, true);
    if (entries) maps.push({ file: chosen, entries });
  } else {
    for (const file of defaultAuthFiles(search.env, search.home, search.uid)) {
      const entries = await readAuthFile(file, false);
      if (entries) maps.push({ file, entries });
    }
  }
  return credentialStore(maps);
}

/** A store over already-parsed files (first file wins, then most specific key). */
export function credentialStore(maps: readonly { file: string; entries: ReadonlyMap<string, Credentials> }[]): CredentialStore {
  return Object.freeze({
    files: Object.freeze(maps.map((m) => m.file)),
    lookup(registry: string, repository?: string): Credentials | undefined {
      const host = normalizeAuthKey(registry);
      const keys: string[] = [];
      if (repository) {
        const parts = repository.split('/');
        for (let i = parts.length; i > 0; i--) keys.push(`${host}/${parts.slice(0, i).join('/')}`);
      }
      keys.push(host);
      for (const { entries } of maps) {
        for (const k of keys) {
          const c = entries.get(k);
          if (c) return c;
        }
      }
      return undefined;
    },
  });
}

export const NO_CREDENTIALS: CredentialStore = credentialStore([]);
