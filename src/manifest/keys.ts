// THE manifest format: every key a system-container document may have, its
// type, default and meaning. The validator (walk.ts) and manifests/schema.json
// (schema.ts) are both derived from CONTAINER_DOCUMENT below; docs/manifest.md
// documents each key (a unit test checks that every key is there).

import { parseReference } from '../oci/reference.ts';
import { isKeelError } from '../errors.ts';
import {
  ABSOLUTE_PATH, CAPABILITIES, ENV_NAME, NAME, OCTAL_MODE, ONE_LINE, PROPAGATIONS, RESERVED_NAMES, RESTART_POLICIES,
  SENSITIVE_SOURCES, STOP_SIGNALS, sensitiveSource, UNIT_REFERENCE, USER, VARIABLE_NAME,
} from './constants.ts';
import type { Field, FieldType, Finding, ObjectType, StringType } from './field-types.ts';
import { DURATION, SIZE, parseDuration } from './units.ts';

const path = (description: string): Field => ({
  type: { kind: 'string', pattern: ABSOLUTE_PATH, patternHelp: 'an absolute, normalised path (no "..", "." or empty components, no trailing "/")', maxLength: 4096 },
  description,
});

const unitList = (description: string): Field => ({
  type: {
    kind: 'array',
    uniqueItems: true,
    maxItems: 64,
    items: { kind: 'string', pattern: UNIT_REFERENCE, patternHelp: 'a system container name (etcd) or a host unit name with its suffix (network-online.target)', maxLength: 255 },
  },
  description,
  default: [],
});

const str = (extra: Omit<StringType, 'kind'> = {}): StringType => ({ kind: 'string', ...extra });
const enumOf = (values: readonly string[]): StringType => ({ kind: 'string', enum: values });

export const BIND_MOUNT: ObjectType = {
  kind: 'object',
  required: ['source', 'target'],
  fields: {
    source: path('Host path to bind. Must exist unless `create: true`.'),
    target: path('Path inside the container.'),
    readOnly: { type: { kind: 'boolean' }, default: true, description: 'Mount read-only (the default); set false to let the container write to the host path.' },
    propagation: { type: enumOf(PROPAGATIONS), default: 'rprivate', description: 'Mount propagation between host and container: private, rprivate (default), slave, rslave, shared, rshared.' },
    create: { type: { kind: 'boolean' }, default: false, description: 'Create the host source directory (mode 0755, root) if it does not exist. Otherwise a missing source is an error.' },
    allowSensitive: {
      type: { kind: 'boolean' },
      default: false,
      description: `Allow a source that is, or is under, ${SENSITIVE_SOURCES.join(', ')} (the host root, kernel interfaces, the D-Bus socket, keel's store). Refused otherwise.`,
    },
  },
};

export const TMPFS_MOUNT: ObjectType = {
  kind: 'object',
  required: ['target'],
  fields: {
    target: path('Path inside the container where a fresh tmpfs is mounted (writable, emptied at every start).'),
    size: { type: str({ pattern: SIZE, patternHelp: 'a size in bytes with an optional K, M, G or T suffix (1024-based), e.g. 64M' }), description: 'Size limit, e.g. 64M. Default: the kernel default (half of RAM).' },
    mode: { type: str({ pattern: OCTAL_MODE, patternHelp: 'an octal mode as a quoted string, e.g. "1777" or "0755"' }), default: '1777', description: 'Permissions of the tmpfs root, as a quoted octal string.' },
  },
};

function checkMounts(value: unknown): Finding[] {
  const findings: Finding[] = [];
  if (!Array.isArray(value)) return findings;
  const targets = new Map<string, number>();
  value.forEach((m: Record<string, unknown>, i) => {
    const target = m['target'];
    if (typeof target === 'string') {
      const first = targets.get(target);
      if (first !== undefined) findings.push({ at: [i, 'target'], message: `target ${target} is already mounted by mounts[${first}]`, hint: 'mount each container path once' });
      else targets.set(target, i);
    }
    const source = m['source'];
    if (m['type'] === 'bind' && typeof source === 'string' && m['allowSensitive'] !== true) {
      const hit = sensitiveSource(source);
      if (hit !== undefined) {
        findings.push({
          at: [i, 'source'],
          message: source === hit ? `${source} is a host path a container may not see by default`
            : hit.startsWith(`${source}/`) || source === '/' ? `${source} contains ${hit}, a host path a container may not see by default`
              : `${source} is under ${hit}, a host path a container may not see by default`,
          hint: 'set allowSensitive: true on this mount if the container really needs it',
        });
      }
    }
  });
  return findings;
}

function checkCapabilities(value: unknown): Finding[] {
  const v = value as { add?: string[]; drop?: string[] };
  const drop = new Set(v.drop ?? []);
  return (v.add ?? []).flatMap((cap, i) =>
    drop.has(cap) ? [{ at: ['add', i], message: `${cap} is both added and dropped`, hint: 'list it in add or in drop, not both' }] : [],
  );
}

function checkStopTimeout(value: unknown): Finding[] {
  if (typeof value !== 'string') return [];
  const s = parseDuration(value);
  return s !== undefined && s >= 1 && s <= 86400 ? [] : [{ message: `stop timeout ${value} is not between 1s and 24h` }];
}

function checkName(value: unknown): Finding[] {
  return typeof value === 'string' && RESERVED_NAMES.includes(value)
    ? [{ message: `the name ${value} is reserved (${value}.service is keel's own unit)`, hint: 'choose another name' }]
    : [];
}

function checkImage(value: unknown): Finding[] {
  if (typeof value !== 'string') return [];
  try {
    parseReference(value);
    return [];
  } catch (err) {
    if (!isKeelError(err)) throw err;
    return [{ message: err.message, hint: err.hint }];
  }
}

const CAPABILITY_LIST: FieldType = {
  kind: 'array',
  uniqueItems: true,
  items: enumOf(['ALL', ...CAPABILITIES]),
};

export const VARIABLES: Field = {
  type: {
    kind: 'map',
    keyPattern: VARIABLE_NAME,
    keyHelp: 'a variable name: letters, digits and _, not starting with a digit',
    values: { kind: 'string', maxLength: 4096 },
    maxProperties: 256,
  },
  literal: true,
  description: 'Defaults for ${VAR} references in this document. `--set VAR=VALUE` overrides them. Values are literal (not themselves substituted).',
  default: {},
};

/** A systemd credential name: a file name in the credentials directory (no "/", no ":" as LoadCredential= splits on it). */
export const CREDENTIAL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

export const CREDENTIAL: ObjectType = {
  kind: 'object',
  required: ['name'],
  fields: {
    name: {
      type: str({ pattern: CREDENTIAL_NAME, patternHelp: 'letters, digits, _, . and -, not starting with . or -, at most 255 characters' }),
      description: 'The credential\'s name: the container reads it at /run/secrets/NAME.',
    },
    file: path('Host file systemd reads at each start (LoadCredential=NAME:FILE). Give this or encryptedFile.'),
    encryptedFile: path('Host file made by `systemd-creds encrypt`, decrypted by systemd at each start with the host key or TPM (LoadCredentialEncrypted=NAME:FILE). Give this or file.'),
  },
};

function checkCredentials(value: unknown): Finding[] {
  if (!Array.isArray(value)) return [];
  const findings: Finding[] = [];
  const names = new Map<string, number>();
  value.forEach((c: Record<string, unknown>, i) => {
    const hasFile = c['file'] !== undefined;
    const hasEncrypted = c['encryptedFile'] !== undefined;
    if (hasFile === hasEncrypted) {
      findings.push({ at: [i], message: hasFile ? 'a credential has file or encryptedFile, not both' : 'a credential needs file or encryptedFile', hint: 'file: a plain host file; encryptedFile: one made with systemd-creds encrypt' });
    }
    const name = c['name'];
    if (typeof name === 'string') {
      const first = names.get(name);
      if (first !== undefined) findings.push({ at: [i, 'name'], message: `credential ${name} is already defined by credentials[${first}]`, hint: 'give each credential its own name' });
      else names.set(name, i);
    }
  });
  return findings;
}

const durationType: FieldType = {
  kind: 'anyOf',
  options: [{ kind: 'integer', minimum: 1, maximum: 86400 }, str({ pattern: DURATION, patternHelp: 'seconds, or a duration like 5s, 2min, 500ms' })],
};

/** One YAML document: one system container. */
export const CONTAINER_DOCUMENT: ObjectType = {
  kind: 'object',
  required: ['name', 'image'],
  fields: {
    name: {
      type: str({ pattern: NAME, patternHelp: 'lowercase letters, digits and -, starting with a letter, at most 63 characters' }),
      description: 'The system container\'s name; its unit is NAME.service.',
      check: checkName,
    },
    image: {
      type: str({ minLength: 1, maxLength: 4096 }),
      description: 'Image reference: [host[:port]/]repo[:tag][@sha256:digest], oci:DIR[:tag], oci-archive:FILE[:tag] or docker-archive:FILE.',
      check: checkImage,
    },
    description: { type: str({ pattern: ONE_LINE, patternHelp: 'one line of text', maxLength: 256 }), description: 'One line for the unit\'s Description=. Default: "keel system container NAME".' },
    command: { type: { kind: 'array', minItems: 1, items: str() }, description: 'Replaces the image\'s entrypoint (and, as with docker, its cmd unless args is given).' },
    args: { type: { kind: 'array', items: str() }, description: 'Replaces the image\'s cmd; appended to the entrypoint (or to command).' },
    env: {
      type: { kind: 'map', keyPattern: ENV_NAME, keyHelp: 'an environment variable name: letters, digits and _, not starting with a digit', values: str(), maxProperties: 1024 },
      description: 'Environment variables, added to (and overriding) the image\'s. Values must be strings: quote numbers.',
      default: {},
    },
    envFiles: {
      type: { kind: 'array', uniqueItems: true, maxItems: 64, items: path('').type },
      description: 'Host files of KEY=value lines (blank lines and lines starting with # ignored; no quotes or escapes), read at every apply: their variables are added to the image\'s, later files winning, and env wins over all of them. A change of a file\'s content restarts the container on the next apply. Values end up in the bundle\'s config.json (root-only); use credentials for secrets.',
      default: [],
    },
    credentials: {
      type: { kind: 'array', maxItems: 64, items: CREDENTIAL },
      description: 'Secrets handed over by systemd (LoadCredential= / LoadCredentialEncrypted=) and bound read-only into the container at /run/secrets/NAME; CREDENTIALS_DIRECTORY=/run/secrets is set. keel never reads them.',
      default: [],
      check: checkCredentials,
    },
    init: {
      type: { kind: 'boolean' },
      default: false,
      description: 'Run a tiny init (tini, from Debian\'s tini package) as PID 1 that starts the command, forwards signals to it and reaps zombies: for a main process that ignores SIGTERM or leaves zombies (a shell script, sleep).',
    },
    workingDir: path('Working directory inside the container. Default: the image\'s, else /.'),
    user: {
      type: {
        kind: 'anyOf',
        options: [str({ pattern: USER, patternHelp: 'user, uid, user:group or uid:gid' }), { kind: 'integer', minimum: 0, maximum: 4294967294 }],
      },
      description: 'User (and group) to run as: a name or uid, optionally :group or :gid. Names are looked up in the image\'s /etc/passwd and /etc/group. Default: the image\'s user.',
    },
    mounts: {
      type: {
        kind: 'array',
        maxItems: 256,
        items: { kind: 'tagged', tag: 'type', tagDescription: 'bind (a host path) or tmpfs (a fresh writable tmpfs).', variants: { bind: BIND_MOUNT, tmpfs: TMPFS_MOUNT } },
      },
      description: 'Host bind mounts and tmpfs mounts, in order.',
      default: [],
      check: checkMounts,
    },
    readOnlyRootfs: { type: { kind: 'boolean' }, default: true, description: 'Mount the image read-only (the default). When false the container gets its own writable upper layer.' },
    network: { type: enumOf(['host', 'none', 'private']), default: 'host', description: 'host (default): the host\'s network. none/private: a new network namespace with only loopback.' },
    pid: { type: enumOf(['host', 'private']), default: 'private', description: 'PID namespace: private (default) or host.' },
    ipc: { type: enumOf(['host', 'private']), default: 'private', description: 'IPC namespace: private (default) or host.' },
    hostFiles: {
      type: { kind: 'boolean' },
      description: 'Bind the host\'s /etc/hosts and /etc/resolv.conf read-only, and use its hostname. Default: true when network is host, else false.',
    },
    capabilities: {
      type: {
        kind: 'object',
        fields: {
          add: { type: CAPABILITY_LIST, default: [], description: 'Capabilities to add to the default set (CAP_NET_ADMIN, ...; ALL for every one).' },
          drop: { type: CAPABILITY_LIST, default: [], description: 'Capabilities to remove from the default set (ALL for every one).' },
        },
      },
      description: 'Changes to the default capability set (CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_NET_BIND_SERVICE CAP_SETFCAP CAP_SETGID CAP_SETPCAP CAP_SETUID CAP_SYS_CHROOT).',
      check: checkCapabilities,
    },
    resources: {
      type: {
        kind: 'object',
        fields: {
          memoryMax: {
            type: { kind: 'anyOf', options: [str({ pattern: new RegExp(`${SIZE.source}|^infinity$`), patternHelp: 'a size with an optional K, M, G or T suffix (e.g. 512M), or infinity' }), { kind: 'integer', minimum: 1 }] },
            description: 'Memory limit (MemoryMax=): bytes, or a size like 512M or 2G, or infinity. Default: none.',
          },
          cpuWeight: { type: { kind: 'integer', minimum: 1, maximum: 10000 }, description: 'CPU weight (CPUWeight=), 1-10000; systemd\'s default is 100.' },
          tasksMax: {
            type: { kind: 'anyOf', options: [{ kind: 'integer', minimum: 1, maximum: 4194304 }, enumOf(['infinity'])] },
            description: 'Maximum number of tasks (TasksMax=), or infinity. Default: systemd\'s.',
          },
          nofile: { type: { kind: 'integer', minimum: 1, maximum: 1048576 }, default: 65536, description: 'Open file limit (RLIMIT_NOFILE, soft and hard).' },
        },
      },
      description: 'Resource limits, enforced through the unit\'s cgroup and the process\'s rlimits.',
    },
    restart: {
      type: {
        kind: 'object',
        fields: {
          policy: { type: enumOf(RESTART_POLICIES), default: 'on-failure', description: 'systemd Restart=: no, on-success, on-failure (default), on-abnormal, on-watchdog, on-abort, always.' },
          delaySec: { type: { kind: 'number', minimum: 0, maximum: 3600 }, default: 5, description: 'Seconds to wait before restarting (RestartSec=).' },
        },
      },
      description: 'What systemd does when the container exits.',
    },
    notify: { type: { kind: 'boolean' }, default: false, description: 'The service reports readiness with sd_notify (READY=1); the unit is Type=notify and runc passes NOTIFY_SOCKET through.' },
    stopSignal: { type: enumOf(STOP_SIGNALS), default: 'SIGTERM', description: 'Signal sent to stop the container.' },
    stopTimeout: {
      type: {
        kind: 'anyOf',
        options: [{ kind: 'integer', minimum: 1, maximum: 86400 }, str({ pattern: DURATION, patternHelp: 'seconds, or a duration like 30s, 2min, 1m30s, 500ms' })],
      },
      default: 30,
      description: 'How long to wait after stopSignal before SIGKILL: seconds, or a duration like 90s or 2min.',
      check: checkStopTimeout,
    },
    after: unitList('Start after these system containers or host units (After=).'),
    before: unitList('Start before these system containers or host units (Before=).'),
    requires: unitList('Hard dependencies (Requires=): if one fails to start or stops, so does this container.'),
    wants: unitList('Soft dependencies (Wants=): started along, failures ignored.'),
    healthCheck: {
      type: {
        kind: 'object',
        required: ['command'],
        fields: {
          command: { type: { kind: 'array', minItems: 1, items: str({ minLength: 1 }) }, description: 'Command run inside the container (like keel exec); exit status 0 means healthy.' },
          interval: { type: durationType, default: '5s', description: 'Time between attempts (and before the first one).' },
          timeout: { type: durationType, default: '10s', description: 'An attempt that runs longer than this has failed.' },
          retries: { type: { kind: 'integer', minimum: 1, maximum: 100 }, default: 3, description: 'Attempts before the check has failed; one success passes it.' },
        },
      },
      description: 'A health check `keel update` runs inside the new deployment, after it is active and has stayed up for the stability window; if it fails, the update is rolled back.',
    },
    autoUpdate: { type: { kind: 'boolean' }, default: false, description: 'Let `keel update --auto` (what keel-update.timer runs) update this container when its tag moves.' },
    pull: { type: enumOf(['missing', 'always', 'never']), default: 'missing', description: 'missing (default): pull only if not in the store. always: re-resolve the tag on every apply. never: the image must already be in the store.' },
    variables: VARIABLES,
  },
};
