// The User-Agent keel sends: keel/<version from package.json>.

import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function defaultUserAgent(): string {
  if (cached === undefined) {
    let version = '0.0.0';
    try {
      // src/registry/ and dist/registry/ both sit two levels below the package root.
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      if (typeof pkg.version === 'string') version = pkg.version;
    } catch {
      // keep 0.0.0: a missing package.json must not stop a pull
    }
    cached = `keel/${version}`;
  }
  return cached;
}
