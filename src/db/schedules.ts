import type { Sql } from './client.js';

/** The task a schedule makes at each tick: the POST /api/v1/tasks body without workspace_id. */
export type ScheduleTask = Record<string, unknown> & { prompt: string };

export interface ScheduleRow {
  id: string;
  owner_id: string;
  workspace_id: string;
  name: string;
  cron: string;
  timezone: string;
  task: ScheduleTask;
  enabled: boolean;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export interface ScheduleRunRow {
  tick_at: Date;
  status: 'created' | 'skipped';
  task_id: string | null;
  reason: string | null;
  created_at: Date;
}

const COLUMNS = 's.id, s.owner_id, s.workspace_id, s.name, s.cron, s.timezone, s.task, s.enabled, s.version, s.created_at, s.updated_at';

// A schedule of a deleted workspace or user (deleted_at set, not yet purged) is found by none of these:
// the purger removes it (src/tasks/deletion/), and its scheduler goes at its next tick or sync.
const live = 'w.deleted_at is null and u.deleted_at is null';
const FROM = `schedules s join workspaces w on w.id = s.workspace_id join users u on u.id = s.owner_id`;

export interface NewSchedule {
  ownerId: string;
  workspaceId: string;
  name: string;
  cron: string;
  timezone: string;
  task: ScheduleTask;
  enabled: boolean;
  /** schedules.max_per_user: a user holding this many already is refused. */
  maxPerUser: number;
}

/**
 * Stores a schedule of the owner's live workspace, below the owner's cap. The owner's schedules are counted
 * under a transaction lock of the owner's own, so concurrent creations never pass the cap together; the
 * workspace row is share-locked, so a workspace being deleted cannot gain a schedule.
 */
export async function insertSchedule(sql: Sql, s: NewSchedule): Promise<ScheduleRow | 'no_workspace' | 'too_many'> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtextextended(${`schedules:${s.ownerId}`}, 0))`;
    const [ws] = await tx`select id from workspaces where id = ${s.workspaceId} and owner_id = ${s.ownerId} and deleted_at is null for key share`;
    if (!ws) return 'no_workspace' as const;
    const [count] = await tx<{ n: number }[]>`select count(*)::int as n from schedules where owner_id = ${s.ownerId}`;
    if ((count?.n ?? 0) >= s.maxPerUser) return 'too_many' as const;
    const [row] = await tx<ScheduleRow[]>`
      insert into schedules as s (owner_id, workspace_id, name, cron, timezone, task, enabled)
      values (${s.ownerId}, ${s.workspaceId}, ${s.name}, ${s.cron}, ${s.timezone}, ${tx.json(s.task as never)}, ${s.enabled})
      returning ${tx.unsafe(COLUMNS)}`;
    return row as ScheduleRow;
  });
}

export async function findSchedule(sql: Sql, ownerId: string, id: string): Promise<ScheduleRow | undefined> {
  const [row] = await sql<ScheduleRow[]>`
    select ${sql.unsafe(COLUMNS)} from ${sql.unsafe(FROM)} where s.id = ${id} and s.owner_id = ${ownerId} and ${sql.unsafe(live)}`;
  return row;
}

export async function listSchedules(sql: Sql, ownerId: string, o: { workspaceId?: string; limit: number }): Promise<ScheduleRow[]> {
  return sql<ScheduleRow[]>`
    select ${sql.unsafe(COLUMNS)} from ${sql.unsafe(FROM)}
    where s.owner_id = ${ownerId} and ${sql.unsafe(live)} ${o.workspaceId ? sql`and s.workspace_id = ${o.workspaceId}` : sql``}
    order by s.created_at desc, s.id desc limit ${o.limit}`;
}

export interface SchedulePatch {
  name?: string;
  cron?: string;
  timezone?: string;
  task?: ScheduleTask;
  enabled?: boolean;
}

/** Applies the given fields and bumps the version (the scheduler is remade from the new row). */
export async function updateSchedule(sql: Sql, ownerId: string, id: string, p: SchedulePatch): Promise<ScheduleRow | undefined> {
  const [row] = await sql<ScheduleRow[]>`
    update schedules as s set
      name = coalesce(${p.name ?? null}, s.name),
      cron = coalesce(${p.cron ?? null}, s.cron),
      timezone = coalesce(${p.timezone ?? null}, s.timezone),
      task = coalesce(${p.task ? sql.json(p.task as never) : null}::jsonb, s.task),
      enabled = coalesce(${p.enabled ?? null}::boolean, s.enabled),
      version = s.version + 1,
      updated_at = now()
    from workspaces w, users u
    where s.id = ${id} and s.owner_id = ${ownerId} and w.id = s.workspace_id and u.id = s.owner_id and ${sql.unsafe(live)}
    returning ${sql.unsafe(COLUMNS)}`;
  return row;
}

export async function deleteSchedule(sql: Sql, ownerId: string, id: string): Promise<boolean> {
  const result = await sql`delete from schedules where id = ${id} and owner_id = ${ownerId}`;
  return result.count > 0;
}

export async function listScheduleRuns(sql: Sql, scheduleId: string, limit: number): Promise<ScheduleRunRow[]> {
  return sql<ScheduleRunRow[]>`
    select tick_at, status, task_id, reason, created_at from schedule_runs where schedule_id = ${scheduleId} order by tick_at desc limit ${limit}`;
}

/** A schedule with what a tick must know of its owner and workspace; undefined when the schedule is gone. */
export type TickSchedule = ScheduleRow & { owner_role: string; owner_disabled: boolean; owner_deleted: boolean; workspace_deleted: boolean };

export async function findScheduleForTick(sql: Sql, id: string): Promise<TickSchedule | undefined> {
  const [row] = await sql<TickSchedule[]>`
    select ${sql.unsafe(COLUMNS)}, u.role as owner_role, u.disabled as owner_disabled,
      u.deleted_at is not null as owner_deleted, w.deleted_at is not null as workspace_deleted
    from ${sql.unsafe(FROM)} where s.id = ${id}`;
  return row;
}

/** What a scheduler is made from. */
export interface SchedulerRow {
  id: string;
  version: number;
  cron: string;
  timezone: string;
}

/** Enabled schedules of live owners and workspaces, by id after `afterId`: one page of what the sync remakes. */
export async function listEnabledSchedules(sql: Sql, afterId: string | null, limit: number): Promise<SchedulerRow[]> {
  return sql<SchedulerRow[]>`
    select s.id, s.version, s.cron, s.timezone from ${sql.unsafe(FROM)}
    where s.enabled and ${sql.unsafe(live)} ${afterId ? sql`and s.id > ${afterId}` : sql``}
    order by s.id limit ${limit}`;
}
