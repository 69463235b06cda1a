import type { RedisClient } from '../queue/redis.js';

/** Control messages from API processes to every worker; the worker that holds the task acts on it. */
export const controlChannel = (prefix: string): string => `${prefix}:control`;

export type ControlMessage = { type: 'cancel'; taskId: string };

export async function publishControl(redis: RedisClient, prefix: string, msg: ControlMessage): Promise<number> {
  return redis.publish(controlChannel(prefix), JSON.stringify(msg));
}

export function parseControl(text: string): ControlMessage | null {
  try {
    const msg = JSON.parse(text) as Partial<ControlMessage>;
    return msg.type === 'cancel' && typeof msg.taskId === 'string' ? { type: 'cancel', taskId: msg.taskId } : null;
  } catch {
    return null;
  }
}
