// bundle/: OCI runtime bundles for system containers. A per-image shared
// rootfs (a hard-link tree of the store's extracted layers, never written by
// containers), per-container deployment slots a/b with an atomic `active`
// pointer, deterministic config.json from the image config and a
// ContainerSpec, host mount-source policy, and the start-time preparation
// (overlay for writable rootfs). docs/bundles.md has the decisions and figures.

export { renderBundle, canonicalJson, hostInputs, inputsDigestOf, plannedInputsDigest, specInputs, mountPointsOf, type RenderImage, type RenderOptions, type RenderResult } from './render-bundle.ts';
export { activeBundle, activeSlot, setActiveSlot, slotDir, containerDir, containersRoot, otherSlot, SLOTS, type Slot } from './slots.ts';
export { collectInUse, reclaimBundleStagings, removeContainerBundles, pruneUnusedRootfs, type InUse } from './in-use.ts';
export { prepareRootfs, releaseRootfs, isMountPoint, type PrepareResult } from './overlay.ts';
export { readBundleRecord, BUNDLE_RECORD, FAILED_MARK, markDeploymentFailed, readDeploymentFailure, type BundleRecord, type DeploymentFailure } from './bundle-record.ts';
export { ensureSharedRootfs, sharedRootfsDir, removeSharedRootfs, type SharedRootfs, type SharedRootfsRecord } from './shared-rootfs.ts';
export {
  renderContainerConfig, containerArgs, containerEnv, containerCwd, containerMounts, credentialsDirOf, initArgs, wantedHostFiles, userString, HOST_FILES,
  INIT_BINARY, INIT_PATH, SECRETS_DIR,
  type ContainerConfigInput,
} from './container-config.ts';
export { parseEnvFile, readEnvFiles, envFilesFact, MAX_ENV_FILE_BYTES } from './env-files.ts';
export { checkBindSource, checkMountSources, createMountSources, sensitiveMatch, type SourceState } from './mount-sources.ts';
export { ensureMountPoint, type MountPointKind } from './mount-point.ts';
export { renderImageRuntimeConfig, serializeRuntimeConfig, type RuntimeSpec, type RuntimeConfigOptions } from './runtime-config.ts';
export { resolveUser, type ResolvedUser } from './user.ts';
export { resolveInRoot, readFileInRoot } from './root-path.ts';
export { BUNDLE_FORMAT, RENDERER_VERSION } from './renderer-version.ts';
