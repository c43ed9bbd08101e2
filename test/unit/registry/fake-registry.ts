// A small in-process OCI distribution registry for unit tests (node:http on
// 127.0.0.1, port 0): serves /v2/, manifests by tag or digest (with
// Content-Type and Docker-Content-Digest) and blobs with Range support.
// Tests may edit `manifests` and `blobs` to plant odd content.

import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Descriptor } from '../../../src/oci/types.ts';
import type { Digest } from '../../../src/oci/digest.ts';

export const REPO = 'keel/test';

export interface StoredManifest {
  bytes: Buffer;
  contentType: string;
  /** Docker-Content-Digest to send; defaults to the true digest. null: none. */
  dockerContentDigest?: string | null;
}

export interface FakeRegistry {
  readonly host: string;
  readonly url: string;
  readonly manifests: Map<string, StoredManifest>;
  readonly blobs: Map<string, Buffer>;
  readonly manifestDigest: Digest;
  readonly manifestBytes: Buffer;
  readonly config: Descriptor;
  readonly layer: Descriptor;
  readonly layerBytes: Buffer;
  readonly requests: string[];
  close(): Promise<void>;
}

export function sha256(b: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
}

export async function startFakeRegistry(layerSize = 256 * 1024): Promise<FakeRegistry> {
  const layerBytes = randomBytes(layerSize);
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layerBytes)] } }));
  const config: Descriptor = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(configBytes), size: configBytes.byteLength };
  const layer: Descriptor = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layerBytes), size: layerBytes.byteLength };
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] }));
  const manifestDigest = sha256(manifestBytes);
  const manifests = new Map<string, StoredManifest>();
  const stored = { bytes: manifestBytes, contentType: 'application/vnd.oci.image.manifest.v1+json' };
  manifests.set('v1', stored);
  manifests.set(manifestDigest, stored);
  const blobs = new Map<string, Buffer>([
    [config.digest, configBytes],
    [layer.digest, layerBytes],
  ]);
  const requests: string[] = [];
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push(path);
    if (path === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    if (!m || m[1] !== REPO) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
      return;
    }
    if (m[2] === 'manifests') {
      const man = manifests.get(m[3] as string);
      if (!man) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
        return;
      }
      const headers: Record<string, string> = { 'content-type': man.contentType, 'content-length': String(man.bytes.byteLength) };
      const dcd = man.dockerContentDigest === undefined ? sha256(man.bytes) : man.dockerContentDigest;
      if (dcd !== null) headers['docker-content-digest'] = dcd;
      res.writeHead(200, headers).end(man.bytes);
      return;
    }
    const blob = blobs.get(m[3] as string);
    if (!blob) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}');
      return;
    }
    const range = /^bytes=([0-9]+)-$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const part = blob.subarray(start);
      res.writeHead(206, {
        'content-type': 'application/octet-stream',
        'content-length': String(part.byteLength),
        'content-range': `bytes ${start}-${blob.byteLength - 1}/${blob.byteLength}`,
      }).end(part);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(blob.byteLength) }).end(blob);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const addr = await new Promise<AddressInfo>((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address() as AddressInfo)));
  return {
    host: `127.0.0.1:${addr.port}`,
    url: `http://127.0.0.1:${addr.port}`,
    manifests,
    blobs,
    manifestDigest,
    manifestBytes,
    config,
    layer,
    layerBytes,
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Reads a stream to the end. */
export async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
