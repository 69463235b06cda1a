/**
 * Which git sources a workspace may be cloned from. Checked by the API when a
 * workspace is created (a 4xx) and again by the worker right before cloning,
 * because the clone runs on the host as root.
 */
export interface GitSourcePolicy {
  /** `file://` sources must resolve under this directory; `null` refuses every `file://` source. */
  fileRoot: string | null;
  allowHttps: boolean;
  /** sandbox.git_allowed_hosts: the only https:// hosts (names or `*.domain`) a source may name; empty: any public host. */
  allowedHosts?: readonly string[];
  /** sandbox.git_allow_private_for_hosts: hosts that may be, or resolve to, loopback or private addresses. */
  allowPrivateForHosts?: readonly string[];
}

/** The sandbox settings the policy is made of. */
export interface GitSourceSettings {
  git_file_root: string | null;
  allow_https_git: boolean;
  git_allowed_hosts: readonly string[];
  git_allow_private_for_hosts: readonly string[];
}

/** The policy the configuration sets; the API and the worker both build it here so they cannot drift. */
export function gitSourcePolicy(sandbox: GitSourceSettings): GitSourcePolicy {
  return {
    fileRoot: sandbox.git_file_root,
    allowHttps: sandbox.allow_https_git,
    allowedHosts: sandbox.git_allowed_hosts,
    allowPrivateForHosts: sandbox.git_allow_private_for_hosts,
  };
}

export type GitSourceCheck = { ok: true } | { ok: false; message: string };

/** What the worker hands to git: a URL that is exactly what the policy approved. */
export type ResolvedGitSource = { ok: true; url: string } | { ok: false; message: string };

const MAX_REF_LENGTH = 255;
const FULL_COMMIT_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export function isCommitSha(ref: string): boolean {
  return FULL_COMMIT_SHA.test(ref);
}

/**
 * A branch, tag or full commit name that is safe on a git command line: roughly
 * `git check-ref-format --allow-onelevel`, plus no leading `-` (option
 * injection) and no `refs/` prefix (`clone --branch` wants the short name).
 */
export function isSafeRefName(ref: string): boolean {
  if (ref.length === 0 || ref.length > MAX_REF_LENGTH) return false;
  if (ref.startsWith('-') || ref.startsWith('/') || ref.endsWith('/') || ref.endsWith('.')) return false;
  if (ref === '@' || ref === 'HEAD' || ref.startsWith('refs/')) return false;
  if (/[\s~^:?*[\\]/.test(ref) || hasControlCharacter(ref)) return false;
  if (ref.includes('..') || ref.includes('//') || ref.includes('@{')) return false;
  return ref.split('/').every((part) => part.length > 0 && !part.startsWith('.') && !part.endsWith('.lock'));
}

export function hasControlCharacter(text: string): boolean {
  return Array.from(text).some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f);
}
