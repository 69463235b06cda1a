import { ListenError } from '../net/listen.js';
import { ConfigError } from '../config/index.js';
import { MigrationError } from '../db/migrate.js';
import { UserFacingError } from '../domain/errors.js';

/** Errors whose message is already the one line a user should read. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

interface Target {
  kind: 'database' | 'redis';
  where: string;
}

/**
 * One line naming the cause and the fix, for every error that can stop a command (never a stack trace).
 * `target` says which dependency was being contacted, so a bare ECONNREFUSED can be named.
 */
export function describeFatal(err: unknown, target?: Target): string {
  if (err instanceof ConfigError || err instanceof StartupError || err instanceof ListenError || err instanceof MigrationError) {
    return err.message;
  }
  if (err instanceof UserFacingError) return `${err.message}${err.fix && !err.message.includes(err.fix) ? `: ${err.fix}` : ''}`;
  const e = err as { code?: string; message?: string; address?: string; port?: number };
  if (target?.kind === 'database') return describeDatabaseError(e, target.where);
  if (target?.kind === 'redis') {
    return `failed to connect to redis at ${target.where}: ${e.message ?? 'no answer'}: start redis-server (scripts/setup-host.sh) or set redis.url / REDIS_URL (redis.cluster.nodes, redis.sentinel.nodes for those topologies)`;
  }
  return `unexpected error: ${e.message ?? String(err)}`;
}

function describeDatabaseError(e: { code?: string; message?: string; address?: string; port?: number }, where: string): string {
  const fix = 'start PostgreSQL (scripts/setup-host.sh) or fix database.host/port or DATABASE_URL';
  switch (e.code) {
    case 'ECONNREFUSED':
      return `failed to connect to database: dial tcp ${where}: connect: connection refused: ${fix}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `failed to connect to database: lookup of ${where} failed: fix database.host or DATABASE_URL`;
    case 'CONNECT_TIMEOUT':
      return `failed to connect to database: ${where} did not answer in time: ${fix}`;
    case '3D000':
      return `failed to connect to database: ${e.message}: create it (createdb) or set database.database / DATABASE_URL`;
    case '28P01':
    case '28000':
      return `failed to connect to database: ${e.message}: fix database.user/password or DATABASE_URL`;
    case '53300':
      return `failed to connect to database: sorry, too many clients already: lower database.max_open_conns or raise max_connections`;
    default:
      return `failed to connect to database at ${where}: ${e.message ?? e.code ?? 'unknown error'}: ${fix}`;
  }
}
