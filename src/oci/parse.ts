// Parsers from untrusted bytes to the frozen types in types.ts. Every field
// keel later puts into a path, URL or syscall is validated here.

import path from 'node:path';
import { KeelError } from '../errors.ts';
import { parseDigest } from './digest.ts';
import { INDEX_TYPES, MANIFEST_TYPES, MediaType } from './media-types.ts';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from './types.ts';

type Json = Record<string, unknown>;

function fail(what: string, problem: string): never {
  throw new KeelError('E_MANIFEST_INVALID', `${what}: ${problem}`);
}

function parseJson(bytes: Uint8Array, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw new KeelError('E_MANIFEST_INVALID', `${what} is not valid JSON`, { cause: err });
  }
  if (!isObject(value)) fail(what, 'expected a JSON object');
  return value;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(obj: Json, key: string, what: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(what, `${key} must be a string`);
  return v;
}

function stringArray(v: unknown, what: string, key: string): readonly string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) fail(what, `${key} must be an array of strings`);
  return Object.freeze([...v]);
}

function stringMap(v: unknown, what: string, key: string): Readonly<Record<string, string>> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || !Object.values(v).every((s) => typeof s === 'string')) fail(what, `${key} must map strings to strings`);
  return Object.freeze({ ...(v as Record<string, string>) });
}

function parsePlatformField(v: unknown, what: string): Platform | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || typeof v.os !== 'string' || typeof v.architecture !== 'string') fail(what, 'platform needs os and architecture');
  const variant = optionalString(v, 'variant', what);
  return Object.freeze({ os: v.os, architecture: v.architecture, variant });
}

export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) fail(what, 'descriptor must be an object');
  const mediaType = optionalString(v, 'mediaType', what);
  if (!mediaType) fail(what, 'descriptor has no mediaType');
  const size = v.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) fail(what, 'descriptor size must be a non-negative integer');
  let digest;
  try {
    digest = parseDigest(v.digest);
  } catch (err) {
    throw new KeelError('E_MANIFEST_INVALID', `${what}: ${(err as Error).message}`, { cause: err });
  }
  const urls = stringArray(v.urls, what, 'urls');
  return Object.freeze({
    mediaType,
    digest,
    size,
    urls,
    annotations: stringMap(v.annotations, what, 'annotations'),
    platform: parsePlatformField(v.platform, what),
  });
}

/**
 * Parses a manifest or index. `contentType` is the registry's Content-Type (or
 * the descriptor's mediaType); the document's own mediaType wins when present,
 * and the two must not contradict each other.
 */
export function parseManifestDocument(bytes: Uint8Array, contentType?: string): ImageManifest | ImageIndex {
  const what = 'image manifest';
  const doc = parseJson(bytes, what);
  const declared = optionalString(doc, 'mediaType', what);
  const header = contentType?.split(';')[0]?.trim();
  if (doc.schemaVersion === 1 || header === MediaType.DOCKER_MANIFEST_V1 || header === MediaType.DOCKER_MANIFEST_V1_SIGNED) {
    throw new KeelError('E_MANIFEST_UNSUPPORTED', 'Docker schema 1 manifests are not supported', {
      hint: 'push the image again with a current client (schema 2 or OCI)',
    });
  }
  if (doc.schemaVersion !== 2) fail(what, 'schemaVersion must be 2');
  const known = (t: string | undefined): t is string => t !== undefined && (INDEX_TYPES.includes(t) || MANIFEST_TYPES.includes(t));
  let mediaType = declared ?? (known(header) ? header : undefined);
  if (declared && known(header) && declared !== header) {
    fail(what, `mediaType ${declared} contradicts Content-Type ${header}`);
  }
  if (!mediaType) {
    // OCI allows mediaType to be absent; tell the two kinds apart by shape.
    if (Array.isArray(doc.manifests)) mediaType = MediaType.OCI_INDEX;
    else if (isObject(doc.config)) mediaType = MediaType.OCI_MANIFEST;
    else fail(what, 'cannot tell whether this is a manifest or an index');
  }
  if (INDEX_TYPES.includes(mediaType)) {
    if (!Array.isArray(doc.manifests)) fail(what, 'index has no manifests array');
    if (doc.manifests.length > 1024) fail(what, 'index lists more than 1024 manifests');
    const manifests = doc.manifests.map((m, i) => parseDescriptor(m, `${what} entry ${i}`));
    return Object.freeze({ kind: 'index', mediaType, manifests: Object.freeze(manifests) });
  }
  if (!MANIFEST_TYPES.includes(mediaType)) {
    throw new KeelError('E_MANIFEST_UNSUPPORTED', `unsupported manifest media type ${JSON.stringify(mediaType)}`);
  }
  const config = parseDescriptor(doc.config, `${what} config`);
  if (!Array.isArray(doc.layers)) fail(what, 'manifest has no layers array');
  if (doc.layers.length > 4096) fail(what, 'manifest has more than 4096 layers');
  const layers = doc.layers.map((l, i) => parseDescriptor(l, `${what} layer ${i}`));
  return Object.freeze({
    kind: 'manifest',
    mediaType,
    config,
    layers: Object.freeze(layers),
    annotations: stringMap(doc.annotations, what, 'annotations'),
  });
}

// Image config values that reach config.json and so runc (issue 9): a NUL
// byte cannot pass through execve(2) or a C string, so runc fails and the unit
// is left restarting; such a config is refused here, at pull and at render.

function noNul(v: string | undefined, what: string, key: string): string | undefined {
  if (v !== undefined && v.includes('\0')) fail(what, `${key} ${JSON.stringify(v.slice(0, 80))} contains a NUL byte`);
  return v;
}

function noNulArray(v: readonly string[] | undefined, what: string, key: string): readonly string[] | undefined {
  v?.forEach((s, i) => noNul(s, what, `${key}[${i}]`));
  return v;
}

/** Env entries are NAME=VALUE with a non-empty NAME and no NUL anywhere. */
function imageEnvEntries(v: readonly string[] | undefined, what: string): readonly string[] | undefined {
  v?.forEach((entry, i) => {
    noNul(entry, what, `Env[${i}]`);
    if (entry.indexOf('=') <= 0) fail(what, `Env[${i}] ${JSON.stringify(entry.slice(0, 80))} is not NAME=VALUE`);
  });
  return v;
}

/**
 * WorkingDir as a path inside the container: absolute and normalised, as
 * containerd and umoci resolve it (Go's path.Join("/", wd), which cleans;
 * path.posix.resolve here, which also drops a trailing slash), so "../../.."
 * is "/" and never a relative cwd handed to runc. Empty stays empty (= "/").
 */
function workingDir(v: string | undefined, what: string): string | undefined {
  noNul(v, what, 'WorkingDir');
  return v === undefined || v === '' ? v : path.posix.resolve('/', v);
}

export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  const what = 'image config';
  const doc = parseJson(bytes, what);
  const architecture = optionalString(doc, 'architecture', what) ?? '';
  const os = optionalString(doc, 'os', what) ?? '';
  const rootfs = doc.rootfs;
  if (!isObject(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) fail(what, 'rootfs must be {type: "layers", diff_ids: [...]}');
  const diffIds = rootfs.diff_ids.map((d) => {
    try {
      return parseDigest(d);
    } catch (err) {
      throw new KeelError('E_MANIFEST_INVALID', `${what}: diff_id: ${(err as Error).message}`, { cause: err });
    }
  });
  const c = isObject(doc.config) ? doc.config : {};
  const config = Object.freeze({
    User: noNul(optionalString(c, 'User', what), what, 'User'),
    Env: imageEnvEntries(stringArray(c.Env, what, 'Env'), what),
    Entrypoint: noNulArray(stringArray(c.Entrypoint, what, 'Entrypoint'), what, 'Entrypoint'),
    Cmd: noNulArray(stringArray(c.Cmd, what, 'Cmd'), what, 'Cmd'),
    WorkingDir: workingDir(optionalString(c, 'WorkingDir', what), what),
    StopSignal: optionalString(c, 'StopSignal', what),
    Labels: stringMap(c.Labels, what, 'Labels'),
    ExposedPorts: isObject(c.ExposedPorts) ? Object.freeze({ ...c.ExposedPorts }) : undefined,
    Volumes: isObject(c.Volumes) ? Object.freeze({ ...c.Volumes }) : undefined,
  });
  return Object.freeze({
    architecture,
    os,
    variant: optionalString(doc, 'variant', what),
    config,
    rootfs: Object.freeze({ type: 'layers' as const, diff_ids: Object.freeze(diffIds) }),
    created: optionalString(doc, 'created', what),
  });
}
