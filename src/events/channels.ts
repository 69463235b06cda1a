/** Redis pub/sub channel of one task's events. */
export const taskChannel = (prefix: string, taskId: string): string => `${prefix}:task:${taskId}`;

/** The message published for each stored event (same shape the SSE endpoint sends). */
export interface PublishedEvent {
  seq: number;
  attempt: number;
  type: string;
  payload: unknown;
}
