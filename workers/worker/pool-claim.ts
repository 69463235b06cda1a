import { recordPoolMiss, type PoolMissReason } from '../../src/observability/metrics.js';
import type { PoolSlot } from '../sandbox/pool.js';
import type { WorkerResources } from './resources.js';
import type { TaskRunPlan } from './task-policy.js';

/**
 * A warm sandbox for this attempt, or null for the cold path. A task whose workspace has an egress
 * allowlist starts cold: its proxy socket is per task and mounted at create. Every miss while the pool is
 * on is logged and counted by reason.
 */
export function takePoolSlot(res: WorkerResources, plan: TaskRunPlan, log: WorkerResources['logger']): PoolSlot | null {
  const pool = res.pool;
  if (!pool || pool.size === 0) return null;
  let reason: PoolMissReason;
  if (plan.egress.mode === 'allowlist') reason = 'egress';
  else {
    const slot = pool.take();
    if (slot) return slot;
    reason = 'empty';
  }
  noteMiss(res, log, reason);
  return null;
}

export function noteMiss(res: WorkerResources, log: WorkerResources['logger'], reason: PoolMissReason): void {
  recordPoolMiss(res.metrics, reason);
  const cliOnly = reason === 'cli_workspace' || reason === 'cli_options';
  log.info({ action: 'pool_miss', reason }, cliOnly ? "the warm sandbox's started CLI cannot serve this attempt; exec'ing claude in it" : 'no warm sandbox for this attempt; starting one cold');
}
