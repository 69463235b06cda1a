import { lstatSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  hasControlCharacter,
  isSafeRefName,
  type GitSourceCheck,
  type GitSourcePolicy,
  type ResolvedGitSource,
} from '../domain/git-source-policy.js';
import { ALLOWABLE_CATEGORIES, checkAddress, type AllowableCategory } from '../net/address-guard.js';
import { hostAllowed, normalizeHostName } from '../net/egress-policy.js';
import { isIpLiteral, normalizeIpLiteral } from '../net/ip.js';

// Checks a git source against the policy: the URL's form, its host without DNS (the worker resolves and
// checks again right before cloning) and, for file://, the real path on this machine.

const MAX_URL_LENGTH = 2048;

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
  const hostCheck = checkHttpsHost(gitHostOf(url), policy);
  return hostCheck.ok ? { ok: true, url: url.href } : hostCheck;
}

/** The URL's host as git and curl will use it: IPv6 without brackets. */
export function gitHostOf(url: URL): string {
  return normalizeIpLiteral(url.hostname);
}

/**
 * What can be decided without DNS: the host is a plain name or an address,
 * listed if a list is set, and an address (in any notation: the URL parser
 * has already turned `0x7f000001`, `2130706433` or `127.1` into dotted form)
 * is public unless the operator allowed it. The worker checks names again
 * after resolving them, right before cloning.
 */
function checkHttpsHost(host: string, policy: GitSourcePolicy): GitSourceCheck {
  const literal = isIpLiteral(host);
  if (!literal && normalizeHostName(host) !== host) {
    return { ok: false, message: 'url host must be a plain DNS name (letters, digits, - and dots, no trailing dot) or an IP address' };
  }
  const allowedHosts = policy.allowedHosts ?? [];
  if (allowedHosts.length > 0 && (literal || !hostAllowed(host, allowedHosts.map((h) => h.toLowerCase())))) {
    return { ok: false, message: `url host ${host} is not in sandbox.git_allowed_hosts` };
  }
  if (!literal) return { ok: true };
  const verdict = checkAddress(host, { allow: privateCategoriesFor(host, policy) });
  return verdict.ok ? { ok: true } : { ok: false, message: `url host ${verdict.message}; git sources must be public hosts` };
}

/** The non-public address categories a host may use: the allowable ones for a host the operator listed, else none. */
export function privateCategoriesFor(host: string, policy: GitSourcePolicy): readonly AllowableCategory[] {
  const listed = (policy.allowPrivateForHosts ?? []).some((entry) => normalizeIpLiteral(entry.toLowerCase()) === host);
  return listed ? ALLOWABLE_CATEGORIES : [];
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
