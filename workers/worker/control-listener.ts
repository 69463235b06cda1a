import type { RedisClient } from '../../src/queue/redis.js';
import { controlChannel, parseControl } from '../../src/events/control.js';
import type { Logger } from '../../src/observability/logger.js';
import type { ActiveAttempts } from './attempts.js';

/** Follows the control channel: a cancel for a task this process runs stops its sandbox. */
export async function listenForControl(subscriber: RedisClient, prefix: string, active: ActiveAttempts, logger: Logger): Promise<void> {
  subscriber.on('message', (_channel: string, text: string) => {
    const msg = parseControl(text);
    if (msg?.type === 'cancel' && active.abort(msg.taskId, 'cancel')) {
      logger.info({ action: 'cancel_received', task_id: msg.taskId }, 'cancelling task');
    }
  });
  await subscriber.subscribe(controlChannel(prefix));
}
