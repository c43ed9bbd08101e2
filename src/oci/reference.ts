// Image references, parsed once at the edge into frozen values.
//
//   registry:  [host[:port]/]repo[:tag][@sha256:…]   (docker:// prefix optional)
//   offline:   oci:DIR[:tag]  oci-archive:FILE[:tag]  docker-archive:FILE
//
// Docker Hub short names are normalised the way docker and podman do:
// `etcd` -> docker.io/library/etcd:latest.

import { KeelError } from '../errors.ts';
import { parseDigest, type Digest } from './digest.ts';

export const DOCKER_HUB = 'docker.io';

export interface RegistryReference {
  readonly transport: 'registry';
  /** Registry host as written, with port: `docker.io`, `127.0.0.1:5000`. */
  readonly registry: string;
  /** Repository path: `library/etcd`, `coreos/flannel`. */
  readonly repository: string;
  readonly tag?: string | undefined;
  readonly digest?: Digest | undefined;
}

export interface LocalReference {
  readonly transport: 'oci' | 'oci-archive' | 'docker-archive';
  readonly path: string;
  readonly tag?: string | undefined;
}

export type ImageReference = RegistryReference | LocalReference;

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

function invalid(input: string, why: string): never {
  throw new KeelError('E_REFERENCE_INVALID', `invalid image reference ${JSON.stringify(input.slice(0, 300))}: ${why}`, {
    hint: 'use [host[:port]/]repository[:tag][@sha256:digest], oci:DIR[:tag], oci-archive:FILE[:tag] or docker-archive:FILE',
  });
}

export function parseReference(input: string): ImageReference {
  if (input.length === 0 || input.length > 4096 || /[\0\n\r]/.test(input)) invalid(input, 'empty, too long or with control characters');
  for (const transport of ['oci-archive', 'docker-archive', 'oci'] as const) {
    if (input.startsWith(`${transport}:`)) return parseLocal(input, transport);
  }
  return parseRegistryReference(input.startsWith('docker://') ? input.slice('docker://'.length) : input, input);
}

function parseLocal(input: string, transport: LocalReference['transport']): LocalReference {
  const rest = input.slice(transport.length + 1);
  if (transport === 'docker-archive') {
    if (!rest) invalid(input, 'no file given');
    return Object.freeze({ transport, path: rest });
  }
  // oci:DIR[:tag] — as in skopeo, the path ends at the first colon, so the
  // tag may itself be a full image name (oci:/media/usb:quay.io/coreos/etcd:v3.5).
  const colon = rest.indexOf(':');
  let path = rest;
  let tag: string | undefined;
  if (colon >= 0) {
    path = rest.slice(0, colon);
    tag = rest.slice(colon + 1);
    if (!TAG.test(tag) && !isRefName(tag)) invalid(input, `invalid tag ${JSON.stringify(tag)}`);
  }
  if (!path) invalid(input, 'no path given');
  return Object.freeze({ transport, path, tag });
}

/** OCI layout ref names (org.opencontainers.image.ref.name) allow a little more than tags. */
function isRefName(s: string): boolean {
  return /^[A-Za-z0-9._\-+@/:]{1,255}$/.test(s) && !s.includes('..');
}

function parseRegistryReference(s: string, input: string): RegistryReference {
  let rest = s;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    try {
      digest = parseDigest(rest.slice(at + 1));
    } catch {
      invalid(input, 'the part after @ is not a sha256 digest');
    }
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) invalid(input, `invalid tag ${JSON.stringify(tag)}`);
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0) {
    const first = rest.slice(0, firstSlash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      registry = first;
      repository = rest.slice(firstSlash + 1);
    }
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (!HOST.test(registry)) invalid(input, `invalid registry host ${JSON.stringify(registry)}`);
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (!repository || repository.length > 255) invalid(input, 'empty or over-long repository');
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      invalid(input, `invalid repository component ${JSON.stringify(component)} (lowercase letters, digits and . _ - only)`);
    }
  }
  if (tag === undefined && digest === undefined) tag = 'latest';
  return Object.freeze({ transport: 'registry', registry, repository, tag, digest });
}

/** The canonical text of a reference: `docker.io/library/etcd:3.5`, `oci:/srv/img:v1`. */
export function formatReference(ref: ImageReference): string {
  if (ref.transport !== 'registry') {
    return ref.tag === undefined ? `${ref.transport}:${ref.path}` : `${ref.transport}:${ref.path}:${ref.tag}`;
  }
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** Whether a registry host is loopback (plain HTTP allowed without configuration). */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.replace(/:[0-9]+$/, '');
  return host === 'localhost' || host === '::1' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host);
}

/**
 * The name an image is stored under. Registry references use their canonical
 * form. An offline source whose tag is a full image name with a registry host
 * (`oci-archive:/usb/etcd.tar:quay.io/coreos/etcd:v3.5`) is stored under that
 * name, so manifests naming the registry image find it on an air-gapped host;
 * other offline sources are stored as `localhost/<file or dir name>:<tag>`.
 */
export function storeName(ref: ImageReference): string {
  if (ref.transport === 'registry') return formatReference(ref);
  if (ref.tag !== undefined && ref.tag.includes('/')) {
    try {
      const named = parseReference(ref.tag);
      if (named.transport === 'registry') return formatReference(named);
    } catch {
      // not an image name: fall through to the local naming
    }
  }
  const base = ref.path.replace(/\/+$/, '').split('/').pop() ?? 'image';
  const repo = base.replace(/\.(tar|oci|tgz)$/i, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '') || 'image';
  const tag = ref.tag !== undefined && TAG.test(ref.tag) ? ref.tag : 'latest';
  return `localhost/${repo}:${tag}`;
}
