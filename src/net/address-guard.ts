import { lookup } from 'node:dns/promises';
import { formatIPv4, parseIp, type ParsedIP } from './ip.js';

// Decides whether an outbound connection may go to an address. Used wherever
// the product connects somewhere a user named (the sandbox egress proxy,
// webhooks): everything but public unicast is refused, so a user-supplied
// host name cannot reach the host's loopback services, the private network or
// a cloud metadata endpoint. Names are resolved once and the connection must
// then go to one of the checked addresses (no second lookup that DNS
// rebinding could answer differently).

/** Why an address is not public. `invalid` is not an address at all. */
export type AddressCategory =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'cgnat'
  | 'link_local'
  | 'metadata'
  | 'unique_local'
  | 'multicast'
  | 'broadcast'
  | 'documentation'
  | 'benchmark'
  | 'tunnel'
  | 'reserved'
  | 'invalid';

/** Categories an operator may allow for chosen hosts (an internal mirror; tests on loopback). Link-local and metadata never. */
export const ALLOWABLE_CATEGORIES = ['loopback', 'private', 'cgnat', 'unique_local'] as const;
export type AllowableCategory = (typeof ALLOWABLE_CATEGORIES)[number];

export type AddressVerdict =
  | { ok: true; address: string; family: 4 | 6; category: 'public' | AllowableCategory }
  | { ok: false; address: string; reason: AddressCategory; message: string };

export interface CheckAddressOptions {
  /** Categories to let through (only ALLOWABLE_CATEGORIES have an effect). Default: none. */
  allow?: readonly AllowableCategory[];
}

interface Range4 {
  base: number;
  bits: number;
  category: AddressCategory;
}
interface Range6 {
  base: bigint;
  bits: number;
  category: AddressCategory;
  /** The range carries an IPv4 address in its low 32 bits: judge that one. */
  embedsIPv4?: boolean;
}

const v4 = (dotted: string, bits: number, category: AddressCategory): Range4 => {
  const parsed = parseIp(dotted);
  if (parsed?.family !== 4) throw new Error(`address guard: bad IPv4 range ${dotted}`);
  return { base: parsed.value, bits, category };
};
const v6 = (text: string, bits: number, category: AddressCategory, embedsIPv4 = false): Range6 => {
  const parsed = parseIp(text);
  if (parsed?.family !== 6) throw new Error(`address guard: bad IPv6 range ${text}`);
  return { base: parsed.value, bits, category, embedsIPv4 };
};

// Most specific first: the first match decides.
const IPV4_RANGES: readonly Range4[] = [
  v4('169.254.169.254', 32, 'metadata'),
  v4('255.255.255.255', 32, 'broadcast'),
  v4('0.0.0.0', 8, 'unspecified'),
  v4('10.0.0.0', 8, 'private'),
  v4('100.64.0.0', 10, 'cgnat'),
  v4('127.0.0.0', 8, 'loopback'),
  v4('169.254.0.0', 16, 'link_local'),
  v4('172.16.0.0', 12, 'private'),
  // 192.0.0.0/24 holds protocol assignments and, at .192, another cloud's metadata service.
  v4('192.0.0.0', 24, 'reserved'),
  v4('192.0.2.0', 24, 'documentation'),
  v4('192.88.99.0', 24, 'tunnel'),
  v4('192.168.0.0', 16, 'private'),
  v4('198.18.0.0', 15, 'benchmark'),
  v4('198.51.100.0', 24, 'documentation'),
  v4('203.0.113.0', 24, 'documentation'),
  v4('224.0.0.0', 4, 'multicast'),
  v4('240.0.0.0', 4, 'reserved'),
];

const IPV6_RANGES: readonly Range6[] = [
  v6('::', 128, 'unspecified'),
  v6('::1', 128, 'loopback'),
  v6('::ffff:0:0', 96, 'reserved', true),
  // NAT64 well-known prefix: the gateway would connect to the embedded IPv4 address.
  v6('64:ff9b::', 96, 'reserved', true),
  // Deprecated IPv4-compatible addresses (::a.b.c.d).
  v6('::', 96, 'reserved'),
  v6('64:ff9b:1::', 48, 'reserved'),
  v6('100::', 64, 'reserved'),
  v6('2001:db8::', 32, 'documentation'),
  // Teredo and 6to4 tunnel to IPv4 addresses the guard cannot see.
  v6('2001::', 32, 'tunnel'),
  v6('2002::', 16, 'tunnel'),
  // AWS's IPv6 instance metadata endpoint lives inside the ULA range.
  v6('fd00:ec2::254', 128, 'metadata'),
  v6('fc00::', 7, 'unique_local'),
  v6('fe80::', 10, 'link_local'),
  v6('fec0::', 10, 'reserved'),
  v6('ff00::', 8, 'multicast'),
];
/** Global unicast: everything outside 2000::/3 is not routable on the internet. */
const IPV6_GLOBAL_UNICAST = v6('2000::', 3, 'reserved');

const DESCRIPTIONS: Record<AddressCategory, string> = {
  unspecified: 'an unspecified address',
  loopback: 'a loopback address',
  private: 'a private (RFC 1918) address',
  cgnat: 'a carrier-grade NAT (100.64.0.0/10) address',
  link_local: 'a link-local address',
  metadata: 'a cloud metadata address',
  unique_local: 'a unique local (fc00::/7) address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  documentation: 'a documentation address',
  benchmark: 'a benchmarking (198.18.0.0/15) address',
  tunnel: 'a tunnelling (6to4, Teredo) address',
  reserved: 'a reserved address',
  invalid: 'not an IP address',
};

function inRange4(value: number, range: Range4): boolean {
  if (range.bits === 0) return true;
  const size = 2 ** (32 - range.bits);
  return Math.floor(value / size) === Math.floor(range.base / size);
}

function inRange6(value: bigint, range: Range6): boolean {
  const shift = BigInt(128 - range.bits);
  return value >> shift === range.base >> shift;
}

/** The category of a parsed address; `public` for global unicast. */
function categorize(ip: ParsedIP): { category: AddressCategory | 'public'; via?: string } {
  if (ip.family === 4) {
    const hit = IPV4_RANGES.find((range) => inRange4(ip.value, range));
    return { category: hit?.category ?? 'public' };
  }
  const hit = IPV6_RANGES.find((range) => inRange6(ip.value, range));
  if (hit?.embedsIPv4) {
    const embedded = formatIPv4(Number(ip.value & 0xffffffffn));
    const inner = categorize({ family: 4, value: Number(ip.value & 0xffffffffn) });
    return { category: inner.category, via: embedded };
  }
  if (hit) return { category: hit.category };
  return { category: inRange6(ip.value, IPV6_GLOBAL_UNICAST) ? 'public' : 'reserved' };
}

/** Whether a connection may go to `ip`: public unicast, or a category `allow` lets through. */
export function checkAddress(ip: string, opts: CheckAddressOptions = {}): AddressVerdict {
  const parsed = parseIp(ip);
  if (parsed === null) return { ok: false, address: ip, reason: 'invalid', message: `${ip} is not an IP address` };
  const { category, via } = categorize(parsed);
  if (category === 'public') return { ok: true, address: ip, family: parsed.family, category };
  // Only allowable categories count, whatever a caller passes: metadata and link-local stay closed.
  const allowed = ALLOWABLE_CATEGORIES.find((c) => c === category && (opts.allow ?? []).includes(c));
  if (allowed !== undefined) return { ok: true, address: ip, family: parsed.family, category: allowed };
  const embedded = via === undefined ? '' : ` (it embeds ${via})`;
  return { ok: false, address: ip, reason: category, message: `${ip} is ${DESCRIPTIONS[category]}${embedded}` };
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Host name → addresses. Injected in tests; the default asks the system resolver for every address. */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (host) => {
  const found = await lookup(host, { all: true, verbatim: true });
  return found.map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }));
};

export type ResolveVerdict =
  | { ok: true; host: string; addresses: ResolvedAddress[] }
  | { ok: false; host: string; reason: AddressCategory | 'resolve_failed' | 'no_address'; address?: string; message: string };

export interface ResolveAndCheckOptions extends CheckAddressOptions {
  resolver?: Resolver;
}

/**
 * Resolves `host` (an IP literal is checked as it is) and accepts it only if
 * every address passes: a name that answers with one public and one private
 * address is refused, since the client could be steered to either.
 */
export async function resolveAndCheck(host: string, opts: ResolveAndCheckOptions = {}): Promise<ResolveVerdict> {
  const literal = parseIp(host);
  if (literal !== null) {
    const verdict = checkAddress(host, opts);
    if (!verdict.ok) return { ok: false, host, reason: verdict.reason, address: verdict.address, message: verdict.message };
    return { ok: true, host, addresses: [{ address: verdict.address, family: verdict.family }] };
  }
  let addresses: ResolvedAddress[];
  try {
    addresses = await (opts.resolver ?? systemResolver)(host);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException | null)?.code;
    return { ok: false, host, reason: 'resolve_failed', message: `${host} could not be resolved${code ? ` (${code})` : ''}` };
  }
  if (addresses.length === 0) return { ok: false, host, reason: 'no_address', message: `${host} resolved to no address` };
  for (const entry of addresses) {
    const verdict = checkAddress(entry.address, opts);
    if (!verdict.ok) {
      return { ok: false, host, reason: verdict.reason, address: entry.address, message: `${host} resolves to ${verdict.message}` };
    }
  }
  return { ok: true, host, addresses };
}
