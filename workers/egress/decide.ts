import { ALLOWABLE_CATEGORIES, resolveAndCheck, type AddressCategory, type ResolvedAddress, type Resolver } from '../../src/net/address-guard.js';
import { hostAllowed, normalizeHostName } from '../../src/net/egress-policy.js';
import { isIpLiteral } from '../../src/net/ip.js';

// Whether one proxied connection may go out, and to which address. Pure apart
// from the (injectable) resolver, so every refusal can be tested without
// opening a connection anywhere.

export interface EgressRules {
  /** The workspace's allowlist: host names and `*.domain` patterns, normalised. */
  domains: readonly string[];
  /** sandbox.egress.allowed_ports */
  allowedPorts: readonly number[];
  /** sandbox.egress.allow_private_for_hosts: these names may resolve to loopback or private ranges. */
  allowPrivateForHosts: readonly string[];
  /** sandbox.egress.static_hosts: fixed addresses, consulted before the resolver. */
  staticHosts: Readonly<Record<string, readonly string[]>>;
  /** Default: the system resolver. */
  resolver?: Resolver;
}

export type EgressRefusal = 'port_not_allowed' | 'ip_literal' | 'bad_host' | 'not_allowlisted' | AddressCategory | 'resolve_failed' | 'no_address';

export type EgressDecision =
  | { ok: true; host: string; port: number; address: ResolvedAddress }
  | { ok: false; host: string; port: number; reason: EgressRefusal; message: string };

export async function decideEgress(target: { host: string; port: number }, rules: EgressRules): Promise<EgressDecision> {
  const { port } = target;
  const refuse = (host: string, reason: EgressRefusal, message: string): EgressDecision => ({ ok: false, host, port, reason, message });
  if (isIpLiteral(target.host)) return refuse(target.host, 'ip_literal', `${target.host} is an IP address; only allowlisted host names are reachable`);
  const host = normalizeHostName(target.host);
  if (host === null) return refuse(target.host, 'bad_host', `${target.host.slice(0, 255)} is not a host name`);
  if (!rules.allowedPorts.includes(port)) {
    return refuse(host, 'port_not_allowed', `port ${port} is not allowed (sandbox.egress.allowed_ports: ${rules.allowedPorts.join(', ')})`);
  }
  if (!hostAllowed(host, rules.domains)) return refuse(host, 'not_allowlisted', `${host} is not in this workspace's egress allowlist`);

  const pinned = rules.staticHosts[host];
  const resolver: Resolver | undefined =
    pinned === undefined ? rules.resolver : async () => pinned.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  const allow = rules.allowPrivateForHosts.includes(host) ? ALLOWABLE_CATEGORIES : [];
  const verdict = await resolveAndCheck(host, { resolver, allow });
  if (!verdict.ok) return refuse(host, verdict.reason, verdict.message);
  // Connect to the address that was checked, never to the name again (no second lookup to rebind).
  return { ok: true, host, port, address: verdict.addresses[0] as ResolvedAddress };
}

/** `host:port` of a CONNECT request (IPv6 in brackets); null when malformed. */
export function parseAuthority(authority: string): { host: string; port: number } | null {
  const match = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(authority);
  if (!match) return null;
  const port = Number(match[2]);
  if (!(port >= 1 && port <= 65535)) return null;
  return { host: (match[1] as string).replace(/^\[(.*)\]$/, '$1'), port };
}
