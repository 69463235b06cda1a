import type { Sql } from './client.js';
import { pgSafeText } from './pg-safe.js';
import type { TaskStatus } from '../domain/task-status.js';

export type ArtifactKind = 'transcript';

/**
 * Stores an artifact of an attempt, fenced: only while that attempt still holds the task. The body is the
 * agent's file: a raw U+0000 in it (which text cannot hold) is stored as U+FFFD (pg-safe.ts).
 */
export async function saveArtifact(
  sql: Sql,
  a: { taskId: string; attempt: number; kind: ArtifactKind; body: string; truncated: boolean },
): Promise<boolean> {
  const rows = await sql`
    insert into task_artifacts (task_id, kind, attempt, body, truncated)
    select ${a.taskId}, ${a.kind}, ${a.attempt}, ${pgSafeText(a.body)}, ${a.truncated}
    where exists (select 1 from tasks where id = ${a.taskId} and attempt = ${a.attempt})
    on conflict (task_id, kind) do update set attempt = excluded.attempt, body = excluded.body,
      truncated = excluded.truncated, created_at = now()`;
  return rows.count === 1;
}

export async function loadArtifact(
  sql: Sql,
  taskId: string,
  kind: ArtifactKind,
): Promise<{ body: string; truncated: boolean } | undefined> {
  const [row] = await sql<{ body: string; truncated: boolean }[]>`
    select body, truncated from task_artifacts where task_id = ${taskId} and kind = ${kind}`;
  return row;
}

/** What a follow-up needs from the task it resumes. */
export interface ResumeSource {
  id: string;
  workspace_id: string;
  status: TaskStatus;
  session_id: string | null;
  diff: string | null;
  diff_truncated: boolean;
  transcript: string | null;
}

export async function loadResumeSource(sql: Sql, ownerId: string | null, id: string): Promise<ResumeSource | undefined> {
  const [row] = await sql<ResumeSource[]>`
    select t.id, t.workspace_id, t.status, t.result->>'session_id' as session_id, t.diff, t.diff_truncated,
      a.body as transcript
    from tasks t left join task_artifacts a on a.task_id = t.id and a.kind = 'transcript'
    where t.id = ${id} ${ownerId ? sql`and t.owner_id = ${ownerId}` : sql``}`;
  return row;
}
