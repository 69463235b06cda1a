import type { Config } from '../../config/index.js';
import type { Sql } from '../../db/client.js';
import { runMigrations } from '../../db/migrate.js';
import type { ProcessLogs } from '../../observability/logger.js';
import { startWorker, type RunningWorker } from '../../../workers/worker/task-worker.js';
import { checkRedis, connectDatabase, migrationsDir, requireCurrentSchema } from '../context.js';
import { onReload, onShutdown } from '../lifecycle.js';
import { startDiagnostics } from '../../diagnostics/server.js';
import { startApi, type RunningApi } from './api.js';

export type Role = 'api' | 'worker' | 'up';

/** `api`, `worker` and `up` (migrate + both in one process): start, then wait for a signal. */
export async function serve(role: Role, config: Config, logs: ProcessLogs): Promise<void> {
  const { logger } = logs;
  // First, so that a reload sent as soon as the process says it listens cannot hit Node's default (exit).
  onReload(logs.files.length > 0 ? () => logs.files.forEach((f) => f.reopen()) : null, (msg) => logger.info(msg));
  const sql = await connectDatabase(config, logger);
  let api: RunningApi | null = null;
  let worker: RunningWorker | null = null;
  let diagnostics: { close(): Promise<void> } | null = null;
  try {
    if (role === 'up') {
      const { applied } = await runMigrations(sql, { dir: migrationsDir(), log: (m) => logger.info(m) });
      if (applied.length) logger.info({ action: 'migrated', applied }, 'migrations applied');
    }
    await requireCurrentSchema(sql);
    await checkRedis(config);
    if (role === 'api' || role === 'up') api = await startApi(config, sql, logger, logs.access);
    if (role === 'worker' || role === 'up') worker = await startWorker({ config, sql, logger });
    // Heap snapshots and CPU profiles for ops, on loopback with a token (off unless diagnostics.enabled).
    if (config.diagnostics.enabled) diagnostics = await startDiagnostics({ ...config.diagnostics, logger, processName: role });
  } catch (err) {
    await Promise.allSettled([api?.close(), worker?.close(), diagnostics?.close()]);
    await sql.end({ timeout: 1 }).catch(() => {});
    throw err;
  }
  onShutdown(
    async () => {
      // Stop taking work first, then close the shared pools last.
      const results = await Promise.allSettled([api?.close(), worker?.close(), diagnostics?.close()]);
      for (const r of results) if (r.status === 'rejected') logger.warn({ err: r.reason }, 'shutdown step failed');
      await sql.end({ timeout: 5 });
    },
    (msg) => logger.info(msg),
  );
}

export type { Sql };
