import type { ClientContext } from '../context.js';
import { ApiResponseError } from '../http.js';
import { ClientError, EXIT, isTerminalStatus } from '../errors.js';
import { formatCost, formatDuration, oneLine } from '../render/format.js';
import { createRenderer } from '../render/renderer.js';
import type { DiffJson, TaskJson, TaskPage } from '../types.js';
import { resolveWorkspaceId } from '../workspaces.js';
import { followTask } from './follow.js';
import { formatTable, shortTime } from './table.js';

const taskPath = (id: string, rest = '') => `/api/v1/tasks/${encodeURIComponent(id)}${rest}`;

export interface ListFlags {
  status?: string;
  workspace?: string;
  limit?: number;
  cursor?: string;
  json?: boolean;
}

/** `tasks list`: newest first, one page; the next page's cursor is printed on stderr. */
export async function listTasksCommand(ctx: ClientContext, flags: ListFlags): Promise<number> {
  const workspaceId = flags.workspace ? await resolveWorkspaceId(ctx.api, flags.workspace) : undefined;
  const page = await ctx.api.request<TaskPage>('GET', '/api/v1/tasks', {
    query: { status: flags.status, workspace_id: workspaceId, limit: flags.limit, cursor: flags.cursor },
  });
  if (flags.json) {
    ctx.io.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
    return EXIT.ok;
  }
  const rows = page.items.map((t) => [t.id, t.status, shortTime(t.created_at), oneLine(t.prompt ?? '', 60)]);
  if (rows.length === 0) ctx.io.stderr.write('no tasks\n');
  else ctx.io.stdout.write(formatTable(['ID', 'STATUS', 'CREATED', 'PROMPT'], rows, ctx.io.stdout.columns));
  if (page.next_cursor) ctx.io.stderr.write(`more: aicli-web tasks list --cursor ${page.next_cursor}\n`);
  return EXIT.ok;
}

/** `tasks get`: the fields a person reads, or the API's JSON. */
export async function getTaskCommand(ctx: ClientContext, id: string, flags: { json?: boolean }): Promise<number> {
  const task = await ctx.api.request<TaskJson>('GET', taskPath(id));
  if (flags.json) {
    ctx.io.stdout.write(`${JSON.stringify(task, null, 2)}\n`);
    return EXIT.ok;
  }
  const r = task.result ?? null;
  const fields: [string, string | null][] = [
    ['id', task.id],
    ['workspace', task.workspace_id],
    ['status', `${task.status}${task.attempt > 1 ? ` (attempt ${task.attempt})` : ''}`],
    ['created', shortTime(task.created_at)],
    ['started', task.started_at ? shortTime(task.started_at) : null],
    ['finished', task.finished_at ? shortTime(task.finished_at) : null],
    ['prompt', task.prompt ? oneLine(task.prompt, 200) : null],
    ['error', task.error ? `${task.error.code}${task.error.message ? `: ${task.error.message}` : ''}` : null],
    ['turns', typeof r?.num_turns === 'number' ? String(r.num_turns) : null],
    ['cost', typeof r?.total_cost_usd === 'number' ? formatCost(r.total_cost_usd) : null],
    ['duration', typeof r?.duration_ms === 'number' ? formatDuration(r.duration_ms) : null],
    ['session', r?.session_id ?? null],
    ['exit code', typeof task.exit_code === 'number' ? String(task.exit_code) : null],
    ['push', task.push ? describePush(task.push) : null],
    ['compare', task.push?.compare_url ?? null],
  ];
  const shown = fields.filter((f): f is [string, string] => f[1] !== null);
  const pad = Math.max(...shown.map(([k]) => k.length)) + 1;
  let out = shown.map(([k, v]) => `${`${k}:`.padEnd(pad)} ${v}`).join('\n');
  if (r?.text) out += `\n\n${r.text.replace(/\s+$/, '')}`;
  ctx.io.stdout.write(`${out}\n`);
  return EXIT.ok;
}

/** `tasks cancel`: asks the server to stop the task; a task that already ended is an error (409). */
export async function cancelTaskCommand(ctx: ClientContext, id: string, flags: { json?: boolean }): Promise<number> {
  let task: TaskJson | null;
  try {
    task = await ctx.api.request<TaskJson | null>('POST', taskPath(id, '/cancel'));
  } catch (err) {
    if (err instanceof ApiResponseError && err.status === 409) {
      throw new ClientError(`cannot cancel task ${id}: ${err.message}`, EXIT.error, { cause: err });
    }
    throw err;
  }
  if (flags.json) ctx.io.stdout.write(`${JSON.stringify(task, null, 2)}\n`);
  else ctx.io.stdout.write(`cancel requested for task ${id}${task?.status ? ` (status: ${task.status})` : ''}\n`);
  return EXIT.ok;
}

/** `tasks diff`: the raw patch on stdout, so it can be piped to `git apply`. */
export async function diffTaskCommand(ctx: ClientContext, id: string): Promise<number> {
  const d = await ctx.api.request<DiffJson>('GET', taskPath(id, '/diff'));
  if (d.diff) ctx.io.stdout.write(d.diff.endsWith('\n') ? d.diff : `${d.diff}\n`);
  else ctx.io.stderr.write(`no changes${d.status && !isTerminalStatus(d.status) ? ` yet (task is ${d.status})` : ''}\n`);
  if (d.truncated) ctx.io.stderr.write('aicli-web: the diff was truncated by the server (sandbox diff size limit)\n');
  return EXIT.ok;
}

/** `tasks follow`: the same live view as `submit --follow`, for a task submitted earlier. */
export async function followTaskCommand(ctx: ClientContext, id: string, flags: { json?: boolean }): Promise<number> {
  const task = await ctx.api.request<TaskJson>('GET', taskPath(id));
  const renderer = createRenderer(ctx.io, { json: flags.json });
  renderer.task(task);
  return followTask(ctx, task.id, renderer);
}

/** One line for a task's branch push: where it went, or why it did not. */
export function describePush(push: NonNullable<TaskJson['push']>): string {
  switch (push.state) {
    case 'pushed':
      return `pushed ${push.branch ?? '?'} at ${push.commit?.slice(0, 12) ?? '?'} to ${push.remote ?? '?'}`;
    case 'failed':
      return `failed: ${push.error ?? 'unknown error'} (retry: aicli-web tasks push ID)`;
    case 'pending':
      return 'pending';
  }
}

/** `tasks push`: asks the server to push the task's work (again); a refusal (409, 422) is an error. */
export async function pushTaskCommand(ctx: ClientContext, id: string, flags: { json?: boolean }): Promise<number> {
  let task: TaskJson;
  try {
    task = await ctx.api.request<TaskJson>('POST', taskPath(id, '/push'));
  } catch (err) {
    if (err instanceof ApiResponseError && (err.status === 409 || err.status === 422)) {
      throw new ClientError(`cannot push task ${id}: ${err.message}`, EXIT.error, { cause: err });
    }
    throw err;
  }
  ctx.io.stdout.write(flags.json ? `${JSON.stringify(task, null, 2)}\n` : `push of ${task.id} queued\n`);
  return EXIT.ok;
}
