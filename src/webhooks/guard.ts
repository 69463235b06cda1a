import type { Config } from '../config/index.js';
import { ALLOWABLE_CATEGORIES, resolveAndCheck, type Resolver } from '../net/address-guard.js';
import type { AddressGuard } from './deliver.js';

/**
 * Where a webhook may connect: public addresses only, after DNS, unless the host is listed in
 * webhooks.allowed_hosts (then loopback and private ranges are let through for it; link-local and metadata
 * never). The resolver is injectable so tests prove refusals without connecting anywhere.
 */
export function createWebhookGuard(cfg: Config['webhooks'], resolver?: Resolver): AddressGuard {
  const listed = new Set(cfg.allowed_hosts.map((h) => h.toLowerCase()));
  return async (host) => {
    const allow = listed.has(host.toLowerCase()) ? ALLOWABLE_CATEGORIES : [];
    const verdict = await resolveAndCheck(host, { allow, resolver });
    if (!verdict.ok) return { ok: false, reason: verdict.message };
    const first = verdict.addresses[0];
    if (!first) return { ok: false, reason: `${host} resolved to no address` };
    return { ok: true, address: first.address, family: first.family };
  };
}
