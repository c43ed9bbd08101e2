// The User-Agent keel sends: keel/<version from package.json>.

import { VERSION } from '../version.ts';

export function defaultUserAgent(): string {
  return `keel/${VERSION}`;
}
