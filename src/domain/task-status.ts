/** Every status a task can be in; the last four are final. */
export const TASK_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const TERMINAL_STATUSES = ['succeeded', 'failed', 'cancelled', 'timed_out'] as const satisfies readonly TaskStatus[];
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];
export const isTerminalStatus = (status: unknown): status is TerminalStatus =>
  typeof status === 'string' && (TERMINAL_STATUSES as readonly string[]).includes(status);
