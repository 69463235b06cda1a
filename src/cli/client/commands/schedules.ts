import type { ClientContext } from '../context.js';
import { ClientError, EXIT } from '../errors.js';
import { readAll } from '../prompt.js';
import { resolveWorkspaceId } from '../workspaces.js';
import { taskOptions, type SubmitFlags } from './submit.js';
import { formatTable, shortTime } from './table.js';

/** What the client reads of a schedule (GET /api/v1/schedules). */
export interface ScheduleJson {
  id: string;
  workspace_id: string;
  name: string;
  cron: string;
  timezone: string;
  enabled: boolean;
  next_runs: string[];
  task: { prompt: string };
  runs?: Array<{ tick_at: string; status: string; task_id: string | null; reason: string | null }>;
}

const PATH = '/api/v1/schedules';

export async function listSchedulesCommand(ctx: ClientContext, flags: { json?: boolean; workspace?: string }): Promise<number> {
  const query = flags.workspace ? `?workspace_id=${encodeURIComponent(await resolveWorkspaceId(ctx.api, flags.workspace))}` : '';
  const { items } = await ctx.api.request<{ items: ScheduleJson[] }>('GET', `${PATH}${query}`);
  if (flags.json) {
    ctx.io.stdout.write(`${JSON.stringify({ items }, null, 2)}\n`);
    return EXIT.ok;
  }
  if (items.length === 0) {
    ctx.io.stderr.write('no schedules: create one with aicli-web schedules create --workspace W --cron "0 9 * * 1-5" "what to do"\n');
    return EXIT.ok;
  }
  const rows = items.map((s) => [s.id, s.name || '-', s.cron, s.timezone, s.enabled ? 'on' : 'paused', shortTime(s.next_runs[0]), s.task.prompt.replace(/\s+/g, ' ')]);
  ctx.io.stdout.write(formatTable(['ID', 'NAME', 'CRON', 'TIMEZONE', 'STATE', 'NEXT RUN', 'PROMPT'], rows, ctx.io.stdout.columns));
  return EXIT.ok;
}

export interface CreateScheduleFlags extends SubmitFlags {
  cron: string;
  timezone?: string;
  name?: string;
  paused?: boolean;
}

/** `schedules create -w W --cron LINE [--timezone TZ] PROMPT`: prints the new id (or the schedule with --json). */
export async function createScheduleCommand(ctx: ClientContext, words: string[], flags: CreateScheduleFlags): Promise<number> {
  const prompt = words.length === 1 && words[0] === '-' ? (await readAll(ctx.io.stdin)).trim() : words.join(' ').trim();
  if (!prompt) throw new ClientError('the prompt is empty: aicli-web schedules create --workspace W --cron "0 9 * * *" "what to do"');
  const { workspace, cron, timezone, name, paused, follow: _f, json, ...task } = flags;
  const body = {
    workspace_id: await resolveWorkspaceId(ctx.api, workspace),
    cron,
    ...(timezone ? { timezone } : {}),
    ...(name ? { name } : {}),
    enabled: !paused,
    task: { prompt, ...taskOptions(task) },
  };
  const s = await ctx.api.request<ScheduleJson>('POST', PATH, { body });
  ctx.io.stdout.write(json ? `${JSON.stringify(s, null, 2)}\n` : `${s.id}\n`);
  if (!json) ctx.io.stderr.write(s.next_runs[0] ? `next run: ${shortTime(s.next_runs[0])}\n` : 'paused: resume it with aicli-web schedules resume ID\n');
  return EXIT.ok;
}

/** `schedules get ID`: the schedule, its next fire times and its latest runs (skipped ones with the reason). */
export async function getScheduleCommand(ctx: ClientContext, id: string, flags: { json?: boolean }): Promise<number> {
  const s = await ctx.api.request<ScheduleJson>('GET', `${PATH}/${encodeURIComponent(id)}`);
  if (flags.json) {
    ctx.io.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return EXIT.ok;
  }
  const lines = [
    `id:        ${s.id}`,
    `name:      ${s.name || '-'}`,
    `cron:      ${s.cron} (${s.timezone})`,
    `state:     ${s.enabled ? 'on' : 'paused'}`,
    `workspace: ${s.workspace_id}`,
    `prompt:    ${s.task.prompt}`,
    `next runs: ${s.next_runs.map(shortTime).join(', ') || '-'}`,
  ];
  ctx.io.stdout.write(`${lines.join('\n')}\n`);
  const runs = s.runs ?? [];
  if (runs.length > 0) {
    ctx.io.stdout.write(`\n${formatTable(['TICK', 'STATUS', 'TASK / REASON'], runs.map((r) => [shortTime(r.tick_at), r.status, r.task_id ?? r.reason ?? '-']), ctx.io.stdout.columns)}`);
  }
  return EXIT.ok;
}

/** `schedules pause|resume ID`: PATCH enabled. */
export async function setScheduleEnabledCommand(ctx: ClientContext, id: string, enabled: boolean, flags: { json?: boolean }): Promise<number> {
  const s = await ctx.api.request<ScheduleJson>('PATCH', `${PATH}/${encodeURIComponent(id)}`, { body: { enabled } });
  ctx.io.stdout.write(flags.json ? `${JSON.stringify(s, null, 2)}\n` : `${s.id} ${s.enabled ? `resumed; next run ${shortTime(s.next_runs[0])}` : 'paused'}\n`);
  return EXIT.ok;
}

export async function deleteScheduleCommand(ctx: ClientContext, id: string): Promise<number> {
  await ctx.api.request<unknown>('DELETE', `${PATH}/${encodeURIComponent(id)}`);
  ctx.io.stdout.write(`${id} deleted\n`);
  return EXIT.ok;
}
