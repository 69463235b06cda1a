import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** Unique per process: a restarted worker is a new owner, so its predecessor's leftovers count as orphans. */
export function newWorkerId(configured: string | null): string {
  if (configured) return configured;
  const host = hostname().replace(/[^A-Za-z0-9-]/g, '').slice(0, 24) || 'host';
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}
