/**
 * The error codes a terminal task can carry (`error.code` in the API), shared by the API and the workers.
 * Which of them retry is decided in one place on the worker side (workers/worker/retry-policy.ts).
 */
export const ERROR_CODES = [
  'claude_error',
  'max_turns',
  'budget_exceeded',
  'oom_killed',
  'timeout',
  'cancelled',
  'auth_failed',
  'sandbox_error',
  'worker_lost',
  'exit_nonzero',
  /** The agent printed more than sandbox.max_events_per_task events or sandbox.max_event_bytes_per_task bytes. */
  'output_limit',
  /** Postgres refused to store the task's output (a data exception, SQLSTATE class 22): no attempt would differ. */
  'output_rejected',
  /** The disk watchdog stopped the task: its scratch filesystem passed sandbox.scratch.watchdog_percent. */
  'disk_full',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];
