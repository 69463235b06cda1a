import { tmpdir } from 'node:os';
import { resolveAndCheck, type ResolvedAddress, type Resolver } from '../../src/net/address-guard.js';
import { isIpLiteral } from '../../src/net/ip.js';
import { runGit } from './git.js';
import type { GitSourcePolicy } from '../../src/domain/git-source-policy.js';
import { gitHostOf, privateCategoriesFor, resolveGitSource } from '../../src/workspaces/git-source.js';

// The worker's last check of a git source, right before git connects. git
// runs on the host network, so an https:// host name is resolved here and
// every address it answers with must pass the shared address guard; git is
// then pinned to exactly those addresses, so a second DNS answer (rebinding)
// cannot send the clone somewhere else.

export type GuardedGitSource =
  | {
      ok: true;
      /** The URL to hand git: exactly what the policy approved. */
      url: string;
      transport: 'https' | 'file';
      /** `-c` options for the git commands that reach the remote (clone, fetch). */
      remoteConfigArgs: string[];
    }
  | { ok: false; message: string };

const HTTPS_DEFAULT_PORT = 443;
/** The first git that reads http.curloptResolve; older ones ignore the option silently, so the pin would not hold. */
const PIN_MIN_GIT: readonly [number, number] = [2, 37];

export async function guardGitSource(src: { url: string; ref?: string }, policy: GitSourcePolicy, resolver?: Resolver): Promise<GuardedGitSource> {
  const resolved = resolveGitSource(src, policy);
  if (!resolved.ok) return resolved;
  const url = new URL(resolved.url);
  if (url.protocol !== 'https:') return { ok: true, url: resolved.url, transport: 'file', remoteConfigArgs: [] };

  const host = gitHostOf(url);
  const verdict = await resolveAndCheck(host, { allow: privateCategoriesFor(host, policy), ...(resolver ? { resolver } : {}) });
  if (!verdict.ok) {
    const unresolved = verdict.reason === 'resolve_failed' || verdict.reason === 'no_address';
    return { ok: false, message: unresolved ? verdict.message : `${verdict.message}; git sources must be public hosts` };
  }
  // An address literal is connected to as it is: there is no lookup to pin.
  if (isIpLiteral(host)) return { ok: true, url: resolved.url, transport: 'https', remoteConfigArgs: [] };
  const pinProblem = await gitPinProblem();
  if (pinProblem !== null) return { ok: false, message: pinProblem };
  const port = url.port === '' ? HTTPS_DEFAULT_PORT : Number(url.port);
  return { ok: true, url: resolved.url, transport: 'https', remoteConfigArgs: ['-c', `http.curloptResolve=${host}:${port}:${curlAddressList(verdict.addresses)}`] };
}

/** `addr[,addr]` as libcurl's resolve list reads it: IPv6 in brackets. */
function curlAddressList(addresses: readonly ResolvedAddress[]): string {
  return addresses.map((entry) => (entry.family === 6 ? `[${entry.address}]` : entry.address)).join(',');
}

/** null when `git version` output names a git that honours http.curloptResolve, else why not (one line, with the fix). */
export function pinSupportProblem(gitVersionText: string): string | null {
  const match = /git version (\d+)\.(\d+)/.exec(gitVersionText);
  const [major, minor] = [Number(match?.[1] ?? 0), Number(match?.[2] ?? 0)];
  if (major > PIN_MIN_GIT[0] || (major === PIN_MIN_GIT[0] && minor >= PIN_MIN_GIT[1])) return null;
  const found = match ? `${major}.${minor}` : 'of unknown version';
  return `git ${found} on this worker cannot be pinned to checked addresses (needs git ${PIN_MIN_GIT.join('.')} or newer): upgrade git, or set sandbox.allow_https_git: false`;
}

let pinCheck: Promise<string | null> | undefined;

/** Asks git once per process; a failed probe is not cached, so a fixed install is picked up. */
function gitPinProblem(): Promise<string | null> {
  pinCheck ??= runGit(['version'], { cwd: tmpdir(), home: tmpdir(), timeoutMs: 10_000 }).then(
    (result) => pinSupportProblem(result.stdout.toString('utf8')),
    (error: unknown) => {
      pinCheck = undefined;
      return `git could not be run to check its version: ${error instanceof Error ? error.message : String(error)}`;
    },
  );
  return pinCheck;
}
