// keel's one error type. Every failure that reaches a user carries a stable
// `code` from the table below; callers and tests match on `code`, never on
// message text. Only the CLI maps codes to exit statuses (src/cli/exit.ts),
// and docs/errors.md documents every row (a unit test keeps them in step).

/** sysexits(3) numbers; systemd knows them by name (EX_USAGE, EX_DATAERR, ...). */
export const Exit = {
  OK: 0,
  FAILURE: 1,
  USAGE: 64,
  DATAERR: 65,
  NOINPUT: 66,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  OSERR: 71,
  CANTCREAT: 73,
  IOERR: 74,
  TEMPFAIL: 75,
  PROTOCOL: 76,
  NOPERM: 77,
  CONFIG: 78,
} as const;
export type ExitStatus = (typeof Exit)[keyof typeof Exit];

interface CodeInfo {
  readonly exit: ExitStatus;
  readonly summary: string;
}

/** Every error code keel emits, with its exit status and a one-line meaning. */
export const CODES = {
  // command line and configuration
  E_USAGE: { exit: Exit.USAGE, summary: 'the command line is wrong: unknown command or option, missing argument' },
  E_NODE_TOO_OLD: { exit: Exit.UNAVAILABLE, summary: 'the Node.js running keel is older than 24; run keel through its launcher (/usr/bin/keel, bin/keel), which uses the Node.js 24 it ships' },
  E_NOT_INSTALLED: { exit: Exit.UNAVAILABLE, summary: "keel's launcher (/usr/bin/keel, bin/keel) found no Node.js to run keel on, or no built dist/: reinstall the keel package, or run npm ci and npm run build in a checkout" },
  E_CONFIG_INVALID: { exit: Exit.CONFIG, summary: 'the keel configuration file (/etc/keel/keel.yaml) cannot be read or is invalid' },
  E_SPEC_INVALID: { exit: Exit.CONFIG, summary: 'a system-container manifest (YAML) has problems; keel validate lists each with file:line:column' },
  E_AUTH_FILE: { exit: Exit.CONFIG, summary: 'an auth file (auth.json, ~/.docker/config.json, --authfile) cannot be read or is invalid' },

  // image references and OCI data
  E_REFERENCE_INVALID: { exit: Exit.DATAERR, summary: 'an image reference or source (oci:, oci-archive:, docker-archive:) cannot be parsed' },
  E_DIGEST_INVALID: { exit: Exit.DATAERR, summary: 'a digest is malformed or uses an unsupported algorithm' },
  E_MANIFEST_INVALID: { exit: Exit.PROTOCOL, summary: 'an image manifest, index or config is not valid JSON of the expected shape' },
  E_MANIFEST_UNSUPPORTED: { exit: Exit.PROTOCOL, summary: 'a manifest or layer media type keel does not support (e.g. Docker schema 1)' },
  E_PLATFORM_NOT_FOUND: { exit: Exit.NOINPUT, summary: 'an image index has no manifest for the requested platform' },
  E_DIGEST_MISMATCH: { exit: Exit.PROTOCOL, summary: 'content does not match the digest it was asked by; it was discarded' },
  E_SIZE_MISMATCH: { exit: Exit.PROTOCOL, summary: 'content is longer or shorter than its descriptor says; it was discarded' },
  E_BODY_TOO_LARGE: { exit: Exit.PROTOCOL, summary: 'a manifest, config, token or error body is over its in-memory cap' },

  // registries and other sources
  E_IMAGE_NOT_FOUND: { exit: Exit.NOINPUT, summary: 'the image, tag or blob does not exist at the source or in the store' },
  E_REGISTRY_UNREACHABLE: { exit: Exit.UNAVAILABLE, summary: 'the registry could not be reached (DNS, connection refused, TLS) after retries' },
  E_REGISTRY_UNAVAILABLE: { exit: Exit.TEMPFAIL, summary: 'the registry kept answering 5xx/429 or cutting bodies short after retries' },
  E_REGISTRY_PROTOCOL: { exit: Exit.PROTOCOL, summary: 'the registry answered something the distribution protocol does not allow' },
  E_REGISTRY_DENIED: { exit: Exit.NOPERM, summary: 'the registry refused the credentials (401/403), or needs credentials keel does not have' },
  E_REGISTRY_INSECURE: { exit: Exit.CONFIG, summary: 'plain HTTP was needed for a registry that is neither loopback nor listed as insecure' },
  E_SOURCE_INVALID: { exit: Exit.DATAERR, summary: 'an oci: layout, oci-archive: or docker-archive: file is malformed' },

  // layers (every layer is hostile until extracted and verified)
  E_LAYER_MALFORMED: { exit: Exit.DATAERR, summary: 'a layer is not a well-formed tar stream (bad header, size on a non-file, NUL in a name, truncated)' },
  E_LAYER_PATH: { exit: Exit.DATAERR, summary: 'a layer entry would resolve outside the root filesystem' },
  E_LAYER_LINK: { exit: Exit.DATAERR, summary: 'a layer hardlink points outside the root, or at something that is not a regular file (in its layer, or in the layers below when stacking)' },
  E_LAYER_WHITEOUT: { exit: Exit.DATAERR, summary: 'a layer whiteout has an invalid name or would act through a symlink' },
  E_LAYER_LIMIT: { exit: Exit.DATAERR, summary: 'a layer is over a safety limit (depth, name length, entry count, decompression ratio)' },
  E_LAYER_UNSUPPORTED: { exit: Exit.PROTOCOL, summary: 'a layer uses a compression or entry type keel does not support' },

  // the store
  E_STORE_LOCKED: { exit: Exit.TEMPFAIL, summary: 'another keel process held a store lock for longer than the wait allowed' },
  E_STORE_NOT_FOUND: { exit: Exit.NOINPUT, summary: 'there is no keel store at --root (a reading command never creates one)' },
  E_STORE_CORRUPT: { exit: Exit.DATAERR, summary: 'the store is inconsistent (keel check names what is wrong)' },
  E_STORE_VERSION: { exit: Exit.DATAERR, summary: 'the store was written by a newer keel (its keel-store.json names a format this keel does not know); nothing was changed' },
  E_STORE_IO: { exit: Exit.IOERR, summary: 'reading or writing a file failed with an I/O error (EIO, or an errno with no code of its own; the message names it)' },
  E_DISK_FULL: { exit: Exit.IOERR, summary: 'the filesystem keel was writing to is full, out of inodes or over a quota (ENOSPC, EDQUOT)' },
  E_READ_ONLY_FS: { exit: Exit.CANTCREAT, summary: 'the filesystem keel was writing to is mounted read-only (EROFS)' },
  E_PERMISSION: { exit: Exit.NOPERM, summary: 'keel lacks a privilege it needs (EACCES, EPERM; most commands need root)' },
  E_OVERLAY_UPPER_UNSUPPORTED: { exit: Exit.CONFIG, summary: "a writable container's overlay upper directory would be on a filesystem overlayfs cannot write to (overlayfs itself, NFS, FAT): move --root or make the rootfs read-only" },
  E_BUNDLE_EXISTS: { exit: Exit.CANTCREAT, summary: 'the bundle directory exists and is not empty' },
  E_MOUNT_SOURCE: { exit: Exit.CONFIG, summary: 'a host mount source is missing (and the manifest does not say create: true) or is refused as sensitive' },
  E_ENV_FILE: { exit: Exit.CONFIG, summary: 'a file named by envFiles is missing, unreadable or not KEY=value lines; the message names the file and line, never a value' },
  E_INIT_MISSING: { exit: Exit.UNAVAILABLE, summary: 'a manifest says init: true but the init binary (/usr/bin/tini-static) is not on the host: apt install tini' },

  // systemd (src/systemd/)
  E_SYSTEMD_UNAVAILABLE: { exit: Exit.UNAVAILABLE, summary: 'the system bus or systemd could not be reached, went away, or did not answer in time' },
  E_SYSTEMD_REFUSED: { exit: Exit.CONFIG, summary: 'systemd refused a request (unsupported property, masked unit, invalid job); the message has its reason' },
  E_UNIT_PROPERTY_INVALID: { exit: Exit.DATAERR, summary: 'a unit name or setting is not something systemd would accept; nothing was sent' },
  E_UNIT_NOT_FOUND: { exit: Exit.NOINPUT, summary: 'systemd has no loaded unit of that name' },
  E_UNIT_EXISTS: { exit: Exit.CANTCREAT, summary: 'a unit of that name already exists (or was not created by keel); keel will not replace it' },
  E_UNIT_FAILED: { exit: Exit.UNAVAILABLE, summary: 'a unit job ended with result "failed": the unit failed to start or stop (see journalctl -u NAME)' },
  E_UNIT_TIMEOUT: { exit: Exit.TEMPFAIL, summary: 'a unit job timed out in systemd, or keel stopped waiting for it' },
  E_UNIT_DEPENDENCY: { exit: Exit.UNAVAILABLE, summary: 'a unit job ended with result "dependency": a unit it requires failed' },
  E_UNIT_CANCELED: { exit: Exit.TEMPFAIL, summary: 'a unit job was canceled (replaced by a conflicting job, or the unit was collected)' },
  E_UNIT_SKIPPED: { exit: Exit.UNAVAILABLE, summary: 'a unit job was skipped or could not apply (result "skipped", "invalid" or "once")' },
  E_RUNC_FAILED: { exit: Exit.UNAVAILABLE, summary: 'runc is missing, or a runc call keel made (state, delete, exec) failed; the message has its output' },
  E_CONTAINER_NOT_FOUND: { exit: Exit.NOINPUT, summary: 'keel has no system container of that name (no unit, record or deployment)' },
  E_CONTAINER_REQUIRED: { exit: Exit.USAGE, summary: 'other units require the container being removed; remove them together or drop the dependency first' },
  E_CONTAINERS_FAILED: { exit: Exit.UNAVAILABLE, summary: 'some containers of an apply, boot, update or rollback failed with different codes (each is listed); the others were done' },
  E_HEALTH_CHECK_FAILED: { exit: Exit.UNAVAILABLE, summary: "a container's health check (manifest healthCheck) failed on every attempt" },
  E_UPDATE_ROLLED_BACK: { exit: Exit.UNAVAILABLE, summary: 'an updated container failed its health gate and was switched back to its previous deployment' },
  E_ROLLBACK_UNAVAILABLE: { exit: Exit.NOINPUT, summary: 'the container has no previous deployment to switch back to' },
  E_EXEC_FAILED: { exit: Exit.UNAVAILABLE, summary: 'keel exec could not start the command in the container (not found, not executable); a command that ran exits with its own status' },
  E_CONTAINER_NOT_RUNNING: { exit: Exit.UNAVAILABLE, summary: 'the system container is not running (start it with systemctl start NAME or keel apply)' },

  // everything else
  E_INTERRUPTED: { exit: Exit.TEMPFAIL, summary: 'keel was interrupted (SIGINT/SIGTERM); nothing half-written was left behind' },
  E_INTERNAL: { exit: Exit.SOFTWARE, summary: 'a bug in keel; please report it with the message' },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof CODES;

export interface KeelErrorOptions {
  readonly cause?: unknown;
  /** Structured facts for --json output and tests (expected/found digests, paths, URLs). */
  readonly detail?: Readonly<Record<string, unknown>>;
  /** What the user can do about it; printed after the message. */
  readonly hint?: string;
}

export class KeelError extends Error {
  override readonly name = 'KeelError';
  readonly code: ErrorCode;
  readonly detail: Readonly<Record<string, unknown>>;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: KeelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.detail = Object.freeze({ ...options.detail });
    this.hint = options.hint;
  }
}

export function isKeelError(err: unknown, code?: ErrorCode): err is KeelError {
  return err instanceof KeelError && (code === undefined || err.code === code);
}

/** Node system errors (ENOENT, EACCES, ...) carry a string `code`. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** A filesystem errno's own code and what to do about it. */
export interface ErrnoClass {
  readonly code: ErrorCode;
  readonly hint: string;
}

/**
 * The one errno → code mapping (fsError and the CLI's last-resort
 * src/cli/exit.ts asKeelError both use it). Returns undefined for an errno
 * that has no code of its own (fsError reports those as E_STORE_IO).
 * `path` is the file the call was about, when the error names one.
 */
export function classifyErrno(errno: string | undefined, path?: string): ErrnoClass | undefined {
  const where = path === undefined ? 'the filesystem' : `the filesystem holding ${path}`;
  switch (errno) {
    case 'ENOSPC':
    case 'EDQUOT':
      return {
        code: 'E_DISK_FULL',
        hint: `free space on ${where} (df -h and df -i show blocks and inodes; keel rmi NAME then keel prune free images no one needs)${errno === 'EDQUOT' ? ' or raise the quota' : ''}, then run the command again`,
      };
    case 'EROFS':
      return {
        code: 'E_READ_ONLY_FS',
        hint: `${where} is mounted read-only: remount it read-write (mount -o remount,rw MOUNTPOINT) or point --root at a writable filesystem`,
      };
    case 'EACCES':
    case 'EPERM':
      return {
        code: 'E_PERMISSION',
        hint:
          process.geteuid?.() === 0
            ? 'keel runs as root, so the refusal comes from elsewhere: the file\'s attributes (lsattr: immutable), the mount (nosuid, root_squash on NFS) or a security module (SELinux, AppArmor; see the audit log)'
            : 'run keel as root',
      };
    case 'EIO':
      return { code: 'E_STORE_IO', hint: `the device under ${where} reported an I/O error: check the kernel log (dmesg) and the disk's health` };
    default:
      return undefined;
  }
}

/**
 * Wraps an unexpected filesystem failure in a KeelError that says what keel was
 * doing, with the errno's own code from classifyErrno (disk full, read-only
 * filesystem, permission, I/O error) so the CLI can say what to do.
 */
export function fsError(action: string, err: unknown): KeelError {
  if (err instanceof KeelError) return err;
  const errno = errnoCode(err);
  const reason = err instanceof Error ? err.message : String(err);
  const path = errnoPath(err);
  const cls = classifyErrno(errno, path);
  return new KeelError(cls?.code ?? 'E_STORE_IO', `${action}: ${reason}`, {
    cause: err,
    detail: { errno, ...(path === undefined ? {} : { path }) },
    ...(cls === undefined ? {} : { hint: cls.hint }),
  });
}

/** The path a Node system error is about, if it names one. */
function errnoPath(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'path' in err) {
    const p = (err as { path: unknown }).path;
    return typeof p === 'string' ? p : undefined;
  }
  return undefined;
}
