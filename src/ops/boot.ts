// keel boot: what keel.service runs at boot, and its background pulls.
// Boot applies the manifest directory in boot mode (ops/apply.ts): the digests
// the last apply pinned, straight from the store, never the network. A
// container whose image is missing does not fail the boot: it gets a
// transient `keel-pull-NAME.service`, ordered after network-online.target,
// that runs `keel boot --pull-for NAME` — pull with retries and exponential
// backoff (every failure in the journal with its code), then boot again,
// which starts the container and whatever required it. No one has to run
// keel by hand.

import { KeelError, isKeelError } from '../errors.ts';
import { storeName } from '../oci/reference.ts';
import type { PlannedAction } from '../plan/index.ts';
import type { Store } from '../store/index.ts';
import { renderServiceProperties, type SystemdClient } from '../systemd/index.ts';
import type { SourceOptions } from '../transport/index.ts';
import { applyManifests, loadSpecs, type ApplyOptions, type ApplyResult } from './apply.ts';

/**
 * The transient unit that pulls a container's missing image in the background.
 * A container name (lowercase letters, digits, -) is a valid unit name part as
 * it is, like the container's own NAME.service: no escaping.
 */
export function backgroundPullUnit(name: string): string {
  return `keel-pull-${name}.service`;
}

/**
 * Properties of the background pull unit. `self` is keel's own argv prefix
 * (node, entry script, global options). Restart=on-failure covers keel itself
 * dying; retries of the pull are keel's own loop, with backoff.
 */
export function backgroundPullProperties(name: string, image: string, self: readonly string[]) {
  return renderServiceProperties({
    description: `keel: pull ${image} for ${name}, then start it`,
    execStart: [...self, 'boot', '--pull-for', name],
    type: 'exec',
    restart: 'on-failure',
    restartDelayMs: 30_000,
    after: ['network-online.target'],
    wants: ['network-online.target'],
    syslogIdentifier: 'keel',
  });
}

export interface BootOptions extends Omit<ApplyOptions, 'boot' | 'waitImage' | 'dryRun' | 'prune'> {
  /** keel's own argv prefix for the background pull units. */
  readonly self: readonly string[];
}

export async function bootContainers(store: Store, options: BootOptions): Promise<ApplyResult> {
  const log = options.log ?? (() => undefined);
  return applyManifests(store, {
    ...options, boot: true,
    waitImage: async (actions: readonly PlannedAction[], client: SystemdClient) => {
      for (const a of actions) {
        const unit = backgroundPullUnit(a.name);
        try {
          // Not awaited: its start job waits for network-online.target.
          await client.enqueueTransient(unit, backgroundPullProperties(a.name, a.image?.name ?? '', options.self));
          log(`${a.unit}: image ${a.image?.name ?? ''} is not in the store; ${unit} pulls it once the network is up`);
        } catch (err) {
          if (!isKeelError(err, 'E_UNIT_EXISTS')) throw err;
          log(`${a.unit}: ${unit} is already pulling its image`);
        }
      }
    },
  });
}

export interface PullForOptions {
  readonly files: readonly string[];
  readonly source: SourceOptions;
  readonly log: (line: string) => void;
  readonly signal?: AbortSignal | undefined;
  /** First retry delay (default 5 s); doubles up to `maxDelayMs`. */
  readonly firstDelayMs?: number | undefined;
  readonly maxDelayMs?: number | undefined;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason as Error);
    }, { once: true });
  });
}

/**
 * `keel boot --pull-for NAME`: pulls NAME's image until it succeeds (retries
 * forever with backoff: the unit is stopped by removing the manifest or by
 * systemctl stop), then the caller boots again. Each failure is logged with
 * its code and the next delay.
 */
export async function pullForContainer(store: Store, name: string, options: PullForOptions): Promise<void> {
  const specs = await loadSpecs(options.files, { allowEmpty: true });
  const spec = specs.find((s) => s.name === name);
  if (spec === undefined) {
    throw new KeelError('E_CONTAINER_NOT_FOUND', `no manifest in ${options.files.join(', ')} describes ${name} any more; nothing to pull`);
  }
  const { pullImage } = await import('./pull.ts');
  const image = storeName(spec.reference);
  let delay = options.firstDelayMs ?? 5000;
  const max = options.maxDelayMs ?? 300_000;
  for (let attempt = 1; ; attempt++) {
    if ((await store.getRef(image)) !== undefined) return; // someone else pulled it meanwhile
    try {
      const r = await pullImage(store, spec.image, { source: options.source, signal: options.signal });
      options.log(`pulled ${spec.image} for ${name} (${r.digest}) on attempt ${attempt}`);
      return;
    } catch (err) {
      if (options.signal?.aborted) throw err;
      const code = isKeelError(err) ? err.code : 'E_INTERNAL';
      const wait = jittered(delay);
      options.log(`pulling ${spec.image} for ${name} failed on attempt ${attempt}: ${(err as Error).message.split('\n')[0]} [${code}]; next try in ${Math.round(wait / 1000)} s`);
      await sleep(wait, options.signal);
      delay = Math.min(delay * 2, max);
    }
  }
}

/**
 * A retry delay spread over ±25 %: hosts that boot together (a rack after a
 * power cut) do not all ask the registry again in the same second.
 */
export function jittered(delayMs: number, random: () => number = Math.random): number {
  return Math.round(delayMs * (0.75 + random() * 0.5));
}
