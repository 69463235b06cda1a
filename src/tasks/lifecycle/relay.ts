import type { RedisClient } from '../../queue/redis.js';
import type { Sql } from '../../db/client.js';
import { deleteOutbox, lockOutboxRow, lockPendingOutbox, type OutboxRow } from '../../db/task-outbox.js';
import { taskChannel } from '../../events/channels.js';
import { publishControl } from '../../events/control.js';
import type { Logger } from '../../observability/logger.js';
import { recordTaskFinished, type Metrics } from '../../observability/metrics.js';
import type { TaskQueue } from '../../queue/task-queue.js';
import { enqueuePush, type PushQueue } from '../../queue/push-queue.js';
import { enqueueWebhook, type WebhookQueue } from '../../queue/webhook-queue.js';
import type { OutboxEffects } from './effects.js';
import { startPeriodic } from '../../util/periodic.js';

export interface RelayDeps {
  sql: Sql;
  /** A command connection: publishes fail fast while Redis is away, and the row waits for the next round. */
  publisher: RedisClient;
  prefix: string;
  webhooks: WebhookQueue;
  /** The branch-push queue; a relay without it leaves a push owed in the row for one that has it. */
  pushes?: PushQueue;
  /** Needed to remove the job of a task cancelled while queued; without it the claim skips the job. */
  queue?: TaskQueue;
  /** The task metrics; a relay without them (the API's) leaves the count to a worker's relay. */
  metrics?: Metrics;
  logger: Logger;
}

export interface OutboxRelay {
  /** Delivers one row now (right after its commit); a row another process holds, or already gone, is skipped. */
  deliver(id: string): Promise<void>;
  /** Delivers the rows older than `olderThanMs` (a crash, or Redis away at commit); returns how many. */
  deliverPending(o: { olderThanMs: number; limit: number }): Promise<number>;
}

/**
 * Delivers the outbox at least once: a row is deleted in the transaction that locked it, after its effects
 * were applied, so a crash before the commit delivers it again (every effect is idempotent, effects.ts).
 */
export function createOutboxRelay(d: RelayDeps): OutboxRelay {
  return {
    async deliver(id) {
      await d.sql.begin(async (tx) => {
        const t = tx as unknown as Sql;
        const row = await lockOutboxRow<OutboxEffects>(t, id);
        if (!row) return;
        const owed = await applyEffects(d, row);
        if (owed) await keepOwed(t, id, owed);
        else await deleteOutbox(t, [id]);
      });
    },
    async deliverPending(o) {
      let failure: unknown = null;
      const delivered = await d.sql.begin(async (tx) => {
        const t = tx as unknown as Sql;
        const rows = await lockPendingOutbox<OutboxEffects>(t, o.olderThanMs, o.limit);
        const done: string[] = [];
        for (const row of rows) {
          let owed: OutboxEffects | null;
          try {
            owed = await applyEffects(d, row);
          } catch (err) {
            failure = err;
            break;
          }
          if (owed) await keepOwed(t, row.id, owed);
          else done.push(row.id);
        }
        // What was delivered is deleted even when a later row failed; the rest waits for the next round.
        await deleteOutbox(t, done);
        return done.length;
      });
      if (failure) throw failure;
      return delivered;
    },
  };
}

/**
 * Applies a row's effects; returns what this process could not deliver (the task metrics, in a process
 * that counts none: the API), which stays in the row for a worker's relay.
 */
async function applyEffects(d: RelayDeps, row: OutboxRow<OutboxEffects>): Promise<OutboxEffects | null> {
  const e = row.effects;
  if (e.events?.length) {
    const pipeline = d.publisher.pipeline();
    for (const event of e.events) pipeline.publish(taskChannel(d.prefix, row.task_id), JSON.stringify(event));
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }
  if (e.control) await publishControl(d.publisher, d.prefix, e.control);
  if (e.removeJob && d.queue) {
    // An active job cannot be removed (its worker finds the task terminal and ends it): nothing to retry.
    await d.queue.remove(row.task_id).catch((err: unknown) => d.logger.debug({ err, task_id: row.task_id }, 'removing the job failed'));
  }
  if (e.webhook) await enqueueWebhook(d.webhooks, row.task_id);
  if (e.push && d.pushes) await enqueuePush(d.pushes, row.task_id);
  const owed: OutboxEffects = {};
  if (e.push && !d.pushes) owed.push = true;
  if (e.finished && d.metrics) recordTaskFinished(d.metrics, e.finished);
  else if (e.finished) owed.finished = e.finished;
  return Object.keys(owed).length > 0 ? owed : null;
}

async function keepOwed(tx: Sql, id: string, owed: OutboxEffects): Promise<void> {
  await tx`update task_outbox set effects = ${tx.json(owed as never)} where id = ${id}`;
}

/** Runs deliverPending every `intervalMs`; failures are logged and retried next round. */
export function startOutboxRelay(relay: OutboxRelay, logger: Logger, intervalMs: number): { stop(): void } {
  return startPeriodic(
    intervalMs,
    async () => {
      // Rows younger than one interval are still being delivered by the process that committed them.
      const delivered = await relay.deliverPending({ olderThanMs: intervalMs, limit: 200 });
      if (delivered > 0) logger.info({ action: 'outbox_relayed', count: delivered }, 'delivered outbox rows left by an earlier delivery');
    },
    (err) => logger.warn({ err, action: 'outbox_relay_failed' }, 'outbox relay round failed (Redis or Postgres away?); retrying next round'),
  );
}
