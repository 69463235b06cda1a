export interface Workspace {
  id: string;
  name: string;
  source: { type: 'empty' } | { type: 'git'; url: string; ref?: string };
  egress?: { mode: string; domains?: string[] };
  anthropic_key?: { set: boolean; masked: string | null };
  /** Env and header values arrive masked only. */
  mcp_servers?: McpServer[];
  created_at: string;
}

export type McpServer =
  | { name: string; type: 'stdio'; command: string; args: string[]; env: Record<string, string> }
  | { name: string; type: 'http'; url: string; headers: Record<string, string> };

export const ACTIVE_STATUSES = ['queued', 'running'];
export const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;

export interface Task {
  id: string;
  workspace_id: string;
  status: string;
  prompt: string;
  result: { text?: string | null; total_cost_usd?: number | null; usage?: Record<string, number> | null } | null;
  error: { code: string; message: string | null } | null;
  usage: Record<string, unknown> | null;
  cancel_requested: boolean;
  /** The branch push of a task that asked for one. */
  push: { state: 'pending' | 'pushed' | 'failed'; branch: string | null; commit: string | null; compare_url: string | null; error: string | null } | null;
  created_at: string;
  finished_at: string | null;
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export interface ScheduleRun {
  tick_at: string;
  status: 'created' | 'skipped';
  task_id: string | null;
  reason: string | null;
}

export interface Schedule {
  id: string;
  workspace_id: string;
  name: string;
  cron: string;
  timezone: string;
  enabled: boolean;
  next_runs: string[];
  task: { prompt: string; max_turns?: number };
  runs?: ScheduleRun[];
}
