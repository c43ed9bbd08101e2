// Which hosts and schemes a pull may talk to. Plain HTTP is allowed only for
// loopback registries (which go straight to http) and hosts configured
// insecure (https first, http on failure); every other host is https only.
// Mirrors come first, in configured order, then the registry itself.

import { registryConfig, type KeelConfig } from '../config/index.ts';
import { KeelError } from '../errors.ts';
import { DOCKER_HUB, isLoopbackRegistry } from '../oci/reference.ts';

export type Scheme = 'https' | 'http';

export interface Endpoint {
  /** The host as configured and as auth files name it: `docker.io`, `mirror.example:5000`. */
  readonly name: string;
  /** The host the API is served on: docker.io becomes registry-1.docker.io. */
  readonly apiHost: string;
  /** Schemes to try, in order. */
  readonly schemes: readonly Scheme[];
  /** Whether TLS certificate errors are tolerated (configured insecure). */
  readonly insecure: boolean;
  readonly mirror: boolean;
}

/** docker.io's API lives on registry-1.docker.io; every other host serves its own. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
}

/** The schemes keel may use for `host`, in the order it tries them. */
export function registrySchemes(host: string, config: KeelConfig): readonly Scheme[] {
  if (isLoopbackRegistry(host)) return ['http'];
  if (registryConfig(config, host).insecure) return ['https', 'http'];
  return ['https'];
}

export function isPlainHttpAllowed(host: string, config: KeelConfig): boolean {
  return registrySchemes(host, config).includes('http');
}

/** Throws E_REGISTRY_INSECURE unless plain HTTP to `host` is allowed. */
export function assertPlainHttpAllowed(host: string, config: KeelConfig, why = 'plain HTTP is needed'): void {
  if (!isPlainHttpAllowed(host, config)) {
    throw new KeelError('E_REGISTRY_INSECURE', `${host}: ${why}, but the registry is neither loopback nor configured insecure`, {
      detail: { registry: host },
      hint: `if you trust the network path, add "${host}: { insecure: true }" under registries: in /etc/keel/keel.yaml`,
    });
  }
}

export function endpointFor(host: string, config: KeelConfig, mirror: boolean): Endpoint {
  return Object.freeze({
    name: host,
    apiHost: apiHost(host),
    schemes: registrySchemes(host, config),
    insecure: registryConfig(config, host).insecure,
    mirror,
  });
}

/** The endpoints to try for `registry`: its mirrors in order, then itself. */
export function endpointsFor(registry: string, config: KeelConfig): readonly Endpoint[] {
  const mirrors = registryConfig(config, registry).mirrors.filter((m) => m !== registry);
  return Object.freeze([...mirrors.map((m) => endpointFor(m, config, true)), endpointFor(registry, config, false)]);
}
