import { isIpLiteral } from './ip.js';

// A workspace's egress policy: `none` (the default: the sandbox has no
// network at all) or `allowlist` (the sandbox reaches listed host names, and
// only those, through the worker's egress proxy). Shared by the API, which
// validates what a user stores, and the proxy, which matches requests.

export type EgressPolicy = { mode: 'none' } | { mode: 'allowlist'; domains: string[] };

export const NO_EGRESS: EgressPolicy = { mode: 'none' };

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Lower-cased host name without a trailing dot, or null when it is not a
 * plain DNS name: IP literals and anything an inet_aton-style parser could
 * read as an address (`2130706433`, `0x7f.1`, `127.1`) are not names.
 */
export function normalizeHostName(host: string): string | null {
  const name = host.trim().toLowerCase().replace(/\.$/, '');
  if (name === '' || name.length > 253 || isIpLiteral(name)) return null;
  const labels = name.split('.');
  if (!labels.every((label) => LABEL.test(label))) return null;
  const last = labels[labels.length - 1] as string;
  if (/^(\d+|0x[0-9a-f]*)$/.test(last)) return null;
  return name;
}

/** `example.com` or `*.example.com` (any name below it, not the name itself), normalised; null when invalid. */
export function normalizeDomainPattern(pattern: string): string | null {
  const trimmed = pattern.trim().toLowerCase();
  if (trimmed.startsWith('*.')) {
    const base = normalizeHostName(trimmed.slice(2));
    return base === null || !base.includes('.') ? null : `*.${base}`;
  }
  return normalizeHostName(trimmed);
}

/** Whether `host` (already normalised) is listed, exactly or under a `*.` pattern. */
export function hostAllowed(host: string, domains: readonly string[]): boolean {
  return domains.some((pattern) => (pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) : host === pattern));
}

/** A stored policy read back; anything unreadable is treated as `none` (fail closed). */
export function parseStoredEgress(value: unknown): EgressPolicy {
  if (typeof value !== 'object' || value === null) return NO_EGRESS;
  const record = value as { mode?: unknown; domains?: unknown };
  if (record.mode !== 'allowlist' || !Array.isArray(record.domains)) return NO_EGRESS;
  const domains = record.domains.filter((d): d is string => typeof d === 'string').map(normalizeDomainPattern).filter((d): d is string => d !== null);
  return domains.length === 0 ? NO_EGRESS : { mode: 'allowlist', domains };
}
