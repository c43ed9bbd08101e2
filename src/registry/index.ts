// The OCI distribution pull client: verified manifests and blob streams from
// registries, with auth, mirrors, retries, resume and redirect hygiene.
export { RegistryClient } from './client.ts';
export type { OpenBlobOptions, RegistryClientOptions } from './client.ts';
export { credentialStore, defaultAuthFiles, loadCredentials, normalizeAuthKey, NO_CREDENTIALS, parseAuthFile } from './auth-file.ts';
export type { AuthFileSearch, Credentials, CredentialStore } from './auth-file.ts';
export { apiHost, assertPlainHttpAllowed, endpointsFor, isPlainHttpAllowed, registrySchemes } from './endpoint.ts';
export type { Endpoint, Scheme } from './endpoint.ts';
export { DEFAULT_RETRY, DEFAULT_TIMEOUTS, MAX_ERROR_BODY_BYTES, MAX_MANIFEST_BYTES, MAX_REDIRECTS, MAX_RESUMES, MAX_TOKEN_BYTES } from './limits.ts';
export type { RetryPolicy, Timeouts } from './limits.ts';
export { parseWwwAuthenticate, pickChallenge } from './www-authenticate.ts';
export type { Challenge } from './www-authenticate.ts';
export { defaultUserAgent } from './user-agent.ts';
