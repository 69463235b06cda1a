import { BlockList, isIP } from 'node:net';
import type { Context } from 'hono';
import { addToBlockList } from './rate-limiter.js';
import { nodeIncoming, requestHeader } from '../net/node-http.js';

const normalise = (ip: string): string => (ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip);

/**
 * The client's address: the socket peer, or, when that peer is a trusted proxy (security.trusted_proxies),
 * the right-most X-Forwarded-For entry that is not itself trusted. Null when there is no socket (an
 * in-process `app.request()`).
 */
export function clientIpResolver(trustedProxies: string[]): (c: Context) => string | null {
  const trusted = new BlockList();
  for (const entry of trustedProxies) addToBlockList(trusted, entry);
  const isTrusted = (ip: string) => {
    const family = isIP(ip);
    return family !== 0 && trusted.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  };
  return (c) => {
    const peer = nodeIncoming(c)?.socket?.remoteAddress;
    if (!peer) return null;
    let ip = normalise(peer);
    if (trustedProxies.length === 0 || !isTrusted(ip)) return ip;
    const hops = (requestHeader(c, 'x-forwarded-for') ?? '').split(',').map((h) => normalise(h.trim())).filter((h) => isIP(h) !== 0);
    for (let i = hops.length - 1; i >= 0; i--) {
      ip = hops[i] as string;
      if (!isTrusted(ip)) return ip;
    }
    return ip;
  };
}
