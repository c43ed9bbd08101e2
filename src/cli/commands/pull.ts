// keel pull IMAGE...

import { parsePlatform } from '../../oci/platform.ts';
import type { Platform } from '../../oci/types.ts';
import { pullImage } from '../../ops/pull.ts';
import type { Command } from '../command.ts';
import { openStore, sourceOptions } from '../context.ts';
import type { Store } from '../../store/index.ts';
import type { SourceOptions } from '../../transport/index.ts';
import { asKeelError, exitStatusFor } from '../exit.ts';
import { PullProgress } from '../progress.ts';
import { formatPhaseReport, phaseClock } from '../../util/phase-clock.ts';

/** The shape of `keel pull --json` (docs/operations.md); bumped on an incompatible change. */
export const PULL_JSON_VERSION = 1;

async function pullAsJson(
  images: readonly string[],
  o: { store: Store; source: SourceOptions; platform: Platform | undefined; signal: AbortSignal; quiet: boolean; timings: boolean },
): Promise<number> {
  const out: unknown[] = [];
  let status = 0;
  for (const input of images) {
    const progress = o.quiet ? undefined : new PullProgress(process.stderr);
    if (o.timings) phaseClock.start();
    try {
      const r = await pullImage(o.store, input, { source: o.source, platform: o.platform, observer: progress, signal: o.signal });
      progress?.finish(r.digest);
      out.push({
        input, status: 'ok', name: r.name, digest: r.digest, ...(r.indexDigest !== undefined ? { indexDigest: r.indexDigest } : {}), platform: r.platform,
        ...(o.timings ? { timings: phaseClock.report() } : {}),
      });
    } catch (err) {
      progress?.fail();
      if (o.signal.aborted) throw err;
      const e = asKeelError(err);
      out.push({ input, status: 'failed', error: { code: e.code, message: e.message } });
      if (status === 0) status = exitStatusFor(e);
    }
  }
  process.stdout.write(`${JSON.stringify({ version: PULL_JSON_VERSION, images: out }, null, 2)}\n`);
  return status;
}

export const pull: Command = {
  name: 'pull',
  usage: 'keel pull [--platform OS/ARCH[/VARIANT]] [--authfile FILE] [--quiet] [--json] [--timings] IMAGE...',
  description: `Fetches each IMAGE (a registry reference, oci:DIR[:tag], oci-archive:FILE[:tag] or
docker-archive:FILE) into the store: manifest, config, every layer blob, and every
layer extracted once. Everything is verified against its digest while it arrives.
Prints the resolved manifest digest of each image on stdout, one per line; progress
goes to stderr (live bars on a terminal, one line per image otherwise).

--json pulls every IMAGE even when one fails and prints {"version": 1, "images":
[{"input", "status": "ok"|"failed", "name", "digest", "indexDigest", "platform",
"error": {"code", "message"}}...]}; the exit status is that of the first failure.

--timings says where each pull's time went, on stderr after the image (in the JSON
as "timings"): wall time; per phase (resolve, fetch, verify, extract, fingerprint,
sync, commit) the time spent and how often; and the CPU time of the main thread,
libuv's pool (inflating) and V8's helpers (GC). docs/operations.md explains them.

Examples:
  keel pull quay.io/coreos/etcd:v3.5.17
  keel --root /var/lib/keel pull 127.0.0.1:5000/etcd@sha256:…
  keel pull oci-archive:/media/usb/etcd.tar:v3.5.17`,
  options: {
    platform: { type: 'string', value: 'OS/ARCH[/VARIANT]', help: 'platform to pick from an image index (default: this host)' },
    authfile: { type: 'string', value: 'FILE', help: 'registry credentials (auth.json or ~/.docker/config.json format)' },
    quiet: { type: 'boolean', short: 'q', help: 'print only the digests' },
    json: { type: 'boolean', help: 'print what was pulled (or why not) as JSON' },
    timings: { type: 'boolean', help: 'report where the time went, by phase and thread' },
  },
  minArgs: 1,
  maxArgs: Infinity,
  async run({ global, values, positionals, signal }) {
    const platform = typeof values.platform === 'string' ? parsePlatform(values.platform) : undefined;
    const store = await openStore(global);
    const source = await sourceOptions(global, typeof values.authfile === 'string' ? values.authfile : undefined);
    const timings = values.timings === true;
    if (values.json === true) return pullAsJson(positionals, { store, source, platform, signal, quiet: values.quiet === true, timings });
    for (const image of positionals) {
      const progress = values.quiet ? undefined : new PullProgress(process.stderr);
      if (timings) phaseClock.start();
      try {
        const result = await pullImage(store, image, { source, platform, observer: progress, signal });
        progress?.finish(result.digest);
        process.stdout.write(`${result.digest}\n`);
        if (timings) process.stderr.write(`keel: timings: ${result.name}: ${formatPhaseReport(phaseClock.report())}\n`);
      } catch (err) {
        progress?.fail();
        throw err;
      }
    }
    return 0;
  },
};
