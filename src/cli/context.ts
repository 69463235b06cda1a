import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { databaseUrl, loadConfig, type Config } from '../config/index.js';
import { createSql, pingDatabase, type Sql } from '../db/client.js';
import { assertSchemaCurrent } from '../db/migrate.js';
import { openLogs, type Logger, type ProcessLogs } from '../observability/logger.js';
import { createRedis, describeRedisTarget } from '../queue/redis.js';
import { describeFatal, StartupError } from './fatal.js';

/** The repository's migrations directory (dist/src/cli → ../../../migrations, src/cli → ../../migrations). */
export function migrationsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const up = here.includes(`${path.sep}dist${path.sep}`) ? '../../../migrations' : '../../migrations';
  return path.resolve(here, up);
}

export interface CommandContext {
  config: Config;
  configSource: string | null;
  logger: Logger;
  /** Every logger and log file of the process (a server reopens the files on SIGHUP). */
  logs: ProcessLogs;
}

export function loadContext(opts: { config?: string }, name: string): CommandContext {
  const { config, source } = loadConfig({ configPath: opts.config });
  const logs = openLogs(config, name);
  // At debug only: which file was read, and why this level (ENVIRONMENT's default or logging.level).
  logs.logger.debug(
    { action: 'config_loaded', config_file: source, environment: config.environment, log_level: logs.logger.level, log_level_from: config.logging.level ? 'logging.level' : 'environment' },
    'configuration loaded',
  );
  return { config, configSource: source, logger: logs.logger, logs };
}

function dbWhere(cfg: Config): string {
  try {
    const url = new URL(databaseUrl(cfg.database));
    return `${url.hostname}:${url.port || 5432}`;
  } catch {
    return `${cfg.database.host}:${cfg.database.port}`;
  }
}

/** Connects and pings Postgres; a refusal becomes the one-line message docs/troubleshooting.ko.md shows. */
export async function connectDatabase(cfg: Config, logger?: Logger): Promise<Sql> {
  // Queries slower than database.slow_query_ms are logged with their duration and text, never their parameters.
  const sql = createSql(cfg.database, {
    onSlowQuery: logger ? (q) => logger.warn({ action: 'slow_query', duration_ms: q.durationMs, query: q.query }, 'slow query') : undefined,
    onIdleTrimError: (err) => logger?.warn({ err, action: 'idle_trim_failed' }, 'closing idle connections past database.max_idle_conns failed; will retry'),
  });
  try {
    await pingDatabase(sql);
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw new StartupError(describeFatal(err, { kind: 'database', where: dbWhere(cfg) }), { cause: err });
  }
  return sql;
}

/** Refuses to serve on a schema that is behind this build. */
export async function requireCurrentSchema(sql: Sql): Promise<void> {
  await assertSchemaCurrent(sql, migrationsDir());
}

export async function checkRedis(cfg: Config): Promise<void> {
  const redis = createRedis(cfg.redis, 'command', 'aicli-startup-check');
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(Object.assign(new Error('no answer within 3 s'), { code: 'ETIMEDOUT' })), 3000);
      redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
      redis.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  } catch (err) {
    throw new StartupError(describeFatal(err, { kind: 'redis', where: describeRedisTarget(cfg.redis) }), { cause: err });
  } finally {
    redis.disconnect();
  }
}

/** Runs a command body; any error is printed as one line on stderr and exits 1. */
export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    process.stderr.write(`aicli-web: ${describeFatal(err)}\n`);
    process.exitCode = 1;
    // Open handles (pools, sockets) must not keep a failed start alive.
    setTimeout(() => process.exit(1), 200).unref();
  }
}
