// Digests as validated values. A digest string from a registry, a manifest or
// a file name is hostile until parseDigest accepts it: only then may it go into
// a URL or a filesystem path (containers/image does the same).

import { createHash, type Hash } from 'node:crypto';
import { KeelError } from '../errors.ts';

/** A validated `sha256:<64 lowercase hex>` (sha512 accepted for verification). */
export type Digest = string & { readonly __digest: unique symbol };
export type DigestAlgorithm = 'sha256' | 'sha512';

const PATTERNS: Record<DigestAlgorithm, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

export function parseDigest(value: unknown): Digest {
  if (typeof value !== 'string') {
    throw new KeelError('E_DIGEST_INVALID', `digest must be a string, got ${typeof value}`);
  }
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (colon < 0 || !(algorithm in PATTERNS)) {
    throw new KeelError('E_DIGEST_INVALID', `unsupported or malformed digest ${JSON.stringify(value.slice(0, 80))}`, {
      hint: 'digests look like sha256:<64 hex digits>',
    });
  }
  if (!PATTERNS[algorithm as DigestAlgorithm].test(hex)) {
    throw new KeelError('E_DIGEST_INVALID', `malformed ${algorithm} digest ${JSON.stringify(value.slice(0, 140))}`);
  }
  return value as Digest;
}

export function isDigest(value: unknown): value is Digest {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** An incremental digester; `digest()` may be called once. */
export class Digester {
  readonly algorithm: DigestAlgorithm;
  #hash: Hash;
  #bytes = 0;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.#bytes += chunk.byteLength;
  }

  /** Counts bytes without hashing them (for a stream verified elsewhere). */
  count(chunk: Uint8Array): void {
    this.#bytes += chunk.byteLength;
  }

  get bytes(): number {
    return this.#bytes;
  }

  digest(): Digest {
    return `${this.algorithm}:${this.#hash.digest('hex')}` as Digest;
  }
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest;
}
