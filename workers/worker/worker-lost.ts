/** BullMQ's reason when a job stalled more often than queue.max_stalled_count allows: the task is lost. */
export const STALLED_LIMIT_REASON = /stalled more than allowable limit/;
