/** The API's JSON shapes, as far as the client reads them. */
export interface TaskJson {
  id: string;
  workspace_id: string;
  status: string;
  attempt: number;
  prompt?: string;
  result?: {
    text?: string | null;
    is_error?: boolean;
    subtype?: string;
    num_turns?: number;
    total_cost_usd?: number;
    session_id?: string;
    duration_ms?: number;
  } | null;
  error?: { code: string; message: string | null } | null;
  exit_code?: number | null;
  push?: {
    state: 'pending' | 'pushed' | 'failed';
    branch: string | null;
    commit: string | null;
    remote: string | null;
    compare_url: string | null;
    error: string | null;
  } | null;
  created_at?: string;
  started_at?: string | null;
  finished_at?: string | null;
}

export interface TaskPage {
  items: TaskJson[];
  next_cursor: string | null;
}

export interface WorkspaceJson {
  id: string;
  name: string;
  source?: { type: string; url?: string; ref?: string };
  /** Env and header values come back masked only. */
  mcp_servers?: Array<{ name: string; type: string; command?: string; args?: string[]; url?: string; env?: Record<string, string>; headers?: Record<string, string> }>;
  created_at?: string;
}

export interface DiffJson {
  task_id: string;
  status: string;
  diff: string;
  truncated: boolean;
}
