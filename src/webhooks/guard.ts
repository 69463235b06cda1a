import type { Config } from '../config/index.js';
import type { AddressGuard } from './deliver.js';

/**
 * Placeholder until the shared address guard lands: only hosts listed in webhooks.allowed_hosts are
 * reachable (fail closed).
 */
export function createWebhookGuard(cfg: Config['webhooks']): AddressGuard {
  return async (host) => {
    if (cfg.allowed_hosts.includes(host) && /^[\d.]+$/.test(host)) return { ok: true, address: host, family: 4 };
    return { ok: false, reason: 'address guard not configured' };
  };
}
