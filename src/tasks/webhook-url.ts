import type { Config } from '../config/index.js';

/**
 * Checks a webhook URL's form at submission (https, no credentials, a host). Where it may connect is
 * decided at delivery by the address guard, after DNS, so a name that later resolves inward is refused too.
 */
export function checkWebhookUrl(raw: string, cfg: Config['webhooks']): { ok: true; url: string } | { ok: false; message: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, message: 'webhook_url is not a valid URL' };
  }
  const httpAllowed = cfg.allow_http || cfg.allowed_hosts.includes(url.hostname.replace(/^\[|\]$/g, ''));
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && httpAllowed)) {
    return { ok: false, message: 'webhook_url must use https' };
  }
  if (url.username || url.password) return { ok: false, message: 'webhook_url must not contain credentials' };
  if (!url.hostname) return { ok: false, message: 'webhook_url needs a host' };
  return { ok: true, url: url.toString() };
}
