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
  created_at: string;
  finished_at: string | null;
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}
