// Reading response bodies into memory with a hard cap (manifests, tokens,
// error documents). The cap is checked against Content-Length before reading
// and against the bytes as they arrive, so a lying or missing length cannot
// make keel buffer more than the cap.

import type { Readable } from 'node:stream';
import { KeelError } from '../errors.ts';

export async function readBounded(body: Readable, cap: number, what: string, contentLength?: string | string[]): Promise<Buffer> {
  const declared = typeof contentLength === 'string' && /^[0-9]+$/.test(contentLength) ? Number(contentLength) : undefined;
  if (declared !== undefined && declared > cap) {
    body.destroy();
    throw tooLarge(what, cap, declared);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    total += buf.byteLength;
    if (total > cap) {
      body.destroy();
      throw tooLarge(what, cap, total);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

function tooLarge(what: string, cap: number, seen: number): KeelError {
  return new KeelError('E_BODY_TOO_LARGE', `${what} is larger than the ${cap}-byte limit (at least ${seen} bytes); refused`, {
    detail: { cap, seen },
  });
}

/**
 * The message of a distribution-spec error document
 * (`{"errors":[{"code":"…","message":"…"}]}`), or a short printable excerpt of
 * whatever else the registry sent.
 */
export function registryErrorMessage(body: Buffer): string {
  const text = body.toString('utf8');
  try {
    const doc = JSON.parse(text) as { errors?: unknown };
    if (Array.isArray(doc.errors)) {
      const parts = doc.errors.map((e: unknown) => {
        const o = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; message?: unknown };
        return [o.code, o.message].filter((x) => typeof x === 'string').join(': ');
      });
      const joined = parts.filter((p) => p !== '').join('; ');
      if (joined !== '') return clean(joined);
    }
  } catch {
    // not JSON: fall through to the excerpt
  }
  return clean(text);
}

function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  const printable = s.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return printable.length > 300 ? `${printable.slice(0, 300)}…` : printable;
}
