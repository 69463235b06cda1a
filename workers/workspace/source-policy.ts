import { lstatSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Which git sources a workspace may be cloned from. Checked by the API when a
 * workspace is created (a 4xx) and again by the worker right before cloning,
 * because the clone runs on the host as root.
 */
export interface GitSourcePolicy {
  /** `file://` sources must resolve under this directory; `null` refuses every `file://` source. */
  fileRoot: string | null;
  allowHttps: boolean;
}

export type GitSourceCheck = { ok: true } | { ok: false; message: string };

/** What the worker hands to git: a URL that is exactly what the policy approved. */
export type ResolvedGitSource = { ok: true; url: string } | { ok: false; message: string };

const MAX_URL_LENGTH = 2048;
const MAX_REF_LENGTH = 255;
const FULL_COMMIT_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export function checkGitSource(src: { url: string; ref?: string }, policy: GitSourcePolicy): GitSourceCheck {
  const resolved = resolveGitSource(src, policy);
  return resolved.ok ? { ok: true } : resolved;
}

/**
 * Validates a source and returns the URL to clone. For `file://` that is the
 * canonical real path, so git opens the very directory that was checked (no
 * `..`, symlink or percent-decoding differences between us and git).
 */
export function resolveGitSource(src: { url: string; ref?: string }, policy: GitSourcePolicy): ResolvedGitSource {
  if (src.ref !== undefined && !isSafeRefName(src.ref)) {
    return { ok: false, message: 'ref is not a valid git branch, tag or commit name' };
  }
  const raw = src.url;
  if (raw.length === 0 || raw.length > MAX_URL_LENGTH) {
    return { ok: false, message: `url must be 1 to ${MAX_URL_LENGTH} characters` };
  }
  // Whitespace, control characters and backslashes are where URL parsers disagree.
  if (/[\s\\]/.test(raw) || hasControlCharacter(raw)) {
    return { ok: false, message: 'url must not contain whitespace, control characters or backslashes' };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, message: 'url must be an absolute https:// or file:// URL' };
  }
  switch (url.protocol) {
    case 'https:':
      return resolveHttps(url, policy);
    case 'file:':
      return resolveFile(url, policy);
    default:
      return { ok: false, message: `url scheme ${url.protocol.replace(/:$/, '')} is not allowed (use https:// or file://)` };
  }
}

function resolveHttps(url: URL, policy: GitSourcePolicy): ResolvedGitSource {
  if (!policy.allowHttps) return { ok: false, message: 'https:// sources are disabled on this server' };
  if (url.username !== '' || url.password !== '') {
    return { ok: false, message: 'url must not embed credentials' };
  }
  if (url.hostname === '') return { ok: false, message: 'url must name a host' };
  if (url.search !== '' || url.hash !== '') return { ok: false, message: 'url must not have a query or fragment' };
  return { ok: true, url: url.href };
}

function resolveFile(url: URL, policy: GitSourcePolicy): ResolvedGitSource {
  if (policy.fileRoot === null) return { ok: false, message: 'file:// sources are disabled on this server' };
  if (url.host !== '') return { ok: false, message: 'file:// url must not name a host' };
  if (url.search !== '' || url.hash !== '') return { ok: false, message: 'url must not have a query or fragment' };

  let requested: string;
  try {
    requested = fileURLToPath(url);
  } catch {
    return { ok: false, message: 'file:// url does not name a local path' };
  }
  const root = realPathOf(path.resolve(policy.fileRoot));
  const target = realPathOf(path.resolve(requested));
  if (root === null || target === null || !isInside(root, target)) {
    return { ok: false, message: 'file:// url is outside the allowed source directory' };
  }
  // git percent-decodes file:// URLs, so re-encode: git then opens exactly `target`.
  return { ok: true, url: pathToFileURL(target).href };
}

/**
 * realpath of the deepest existing ancestor plus the missing rest, so a path
 * that does not exist yet can't hide a symlink hop; `null` when an existing
 * entry can't be resolved (dangling symlink, loop, no permission).
 */
function realPathOf(absolute: string): string | null {
  const missing: string[] = [];
  let current = absolute;
  try {
    while (lstatSync(current, { throwIfNoEntry: false }) === undefined) {
      const parent = path.dirname(current);
      if (parent === current) break;
      missing.unshift(path.basename(current));
      current = parent;
    }
    return path.join(realpathSync(current), ...missing);
  } catch {
    return null;
  }
}

function isInside(root: string, target: string): boolean {
  const relative = path.relative(root, target);
  if (relative === '') return true;
  return relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
}

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

function hasControlCharacter(text: string): boolean {
  return Array.from(text).some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f);
}
