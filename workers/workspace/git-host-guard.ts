import { resolveAndCheck, type ResolvedAddress, type Resolver } from '../../src/net/address-guard.js';
import { isIpLiteral } from '../../src/net/ip.js';
import { gitHostOf, privateCategoriesFor, resolveGitSource, type GitSourcePolicy } from './source-policy.js';

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
  const port = url.port === '' ? HTTPS_DEFAULT_PORT : Number(url.port);
  return { ok: true, url: resolved.url, transport: 'https', remoteConfigArgs: ['-c', `http.curloptResolve=${host}:${port}:${curlAddressList(verdict.addresses)}`] };
}

/** `addr[,addr]` as libcurl's resolve list reads it: IPv6 in brackets. */
function curlAddressList(addresses: readonly ResolvedAddress[]): string {
  return addresses.map((entry) => (entry.family === 6 ? `[${entry.address}]` : entry.address)).join(',');
}
