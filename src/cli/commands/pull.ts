// keel pull IMAGE...

import { parsePlatform } from '../../oci/platform.ts';
import { pullImage } from '../../ops/pull.ts';
import type { Command } from '../command.ts';
import { openStore, sourceOptions } from '../context.ts';
import { PullProgress } from '../progress.ts';

export const pull: Command = {
  name: 'pull',
  usage: 'keel pull [--platform OS/ARCH[/VARIANT]] [--authfile FILE] [--quiet] IMAGE...',
  description: `Fetches each IMAGE (a registry reference, oci:DIR[:tag], oci-archive:FILE[:tag] or
docker-archive:FILE) into the store: manifest, config, every layer blob, and every
layer extracted once. Everything is verified against its digest while it arrives.
Prints the resolved manifest digest of each image on stdout, one per line; progress
goes to stderr (live bars on a terminal, one line per image otherwise).

Examples:
  keel pull quay.io/coreos/etcd:v3.5.17
  keel --root /var/lib/keel pull 127.0.0.1:5000/etcd@sha256:…
  keel pull oci-archive:/media/usb/etcd.tar:v3.5.17`,
  options: {
    platform: { type: 'string', value: 'OS/ARCH[/VARIANT]', help: 'platform to pick from an image index (default: this host)' },
    authfile: { type: 'string', value: 'FILE', help: 'registry credentials (auth.json or ~/.docker/config.json format)' },
    quiet: { type: 'boolean', short: 'q', help: 'print only the digests' },
  },
  minArgs: 1,
  maxArgs: Infinity,
  async run({ global, values, positionals, signal }) {
    const platform = typeof values.platform === 'string' ? parsePlatform(values.platform) : undefined;
    const store = await openStore(global);
    const source = await sourceOptions(global, typeof values.authfile === 'string' ? values.authfile : undefined);
    for (const image of positionals) {
      const progress = values.quiet ? undefined : new PullProgress(process.stderr);
      try {
        const result = await pullImage(store, image, { source, platform, observer: progress, signal });
        progress?.finish(result.digest);
        process.stdout.write(`${result.digest}\n`);
      } catch (err) {
        progress?.fail();
        throw err;
      }
    }
    return 0;
  },
};
