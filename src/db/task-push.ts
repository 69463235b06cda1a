import type { SealedSecret } from '../crypto/secret-box.js';
import type { PushTarget, TaskPush } from '../domain/branch-push.js';
import type { TaskStatus } from '../domain/task-status.js';
import type { Sql } from './client.js';
import type { WorkspaceSource } from './workspaces.js';

/** What the pusher reads of a task: its diff and source commit, its workspace's target and credential, its parent's push. */
export interface PushJobRow {
  id: string;
  status: TaskStatus;
  workspace_id: string;
  prompt: string;
  result_text: string | null;
  diff: string | null;
  diff_truncated: boolean;
  source_commit: string | null;
  push: TaskPush | null;
  source: WorkspaceSource | null;
  target: PushTarget | null;
  /** The task this one resumes, and that task's push (a follow-up continues its branch). */
  resume_from: string | null;
  parent_push: TaskPush | null;
  credential: SealedSecret | null;
}

export async function loadPushJob(sql: Sql, taskId: string): Promise<PushJobRow | undefined> {
  const [row] = await sql<(Omit<PushJobRow, 'credential'> & { key_id: string | null; nonce: Buffer | null; ciphertext: Buffer | null; tag: Buffer | null })[]>`
    select t.id, t.status, t.workspace_id, t.prompt, t.result->>'text' as result_text, t.diff, t.diff_truncated, t.source_commit, t.push,
      w.source, w.push as target, t.options->>'resume_from' as resume_from, p.push as parent_push,
      s.key_id, s.nonce, s.ciphertext, s.tag
    from tasks t
    left join workspaces w on w.id = t.workspace_id and w.deleted_at is null
    left join tasks p on p.id = (t.options->>'resume_from')::uuid
    left join workspace_secrets s on s.workspace_id = t.workspace_id and s.kind = 'git_credential'
    where t.id = ${taskId}`;
  if (!row) return undefined;
  const { key_id, nonce, ciphertext, tag, ...rest } = row;
  const credential = key_id && nonce && ciphertext && tag ? { keyId: key_id, nonce, ciphertext, tag } : null;
  return { ...rest, credential };
}

/** Records the outcome of a try; a push already recorded as pushed is never overwritten (a late duplicate try). */
export async function recordPush(sql: Sql, taskId: string, push: TaskPush): Promise<boolean> {
  const rows = await sql`
    update tasks set push = ${sql.json(push as never)}, updated_at = now()
    where id = ${taskId} and (push is null or push->>'state' <> 'pushed')`;
  return rows.count === 1;
}

export type PushRetry = { kind: 'queued'; tries: number } | { kind: 'missing' } | { kind: 'refused'; reason: string };

/**
 * Marks a succeeded task's push pending again and returns the number of its next try (the job id). A task
 * already pushed, or whose push is pending, is refused: one push per task, one try at a time.
 */
export async function requestPushRetry(sql: Sql, ownerId: string, taskId: string, staleAfterMs: number): Promise<PushRetry> {
  return sql.begin(async (tx) => {
    const [task] = await tx<{ status: TaskStatus; push: TaskPush | null; asked: boolean; stale: boolean }[]>`
      select status, push, coalesce(options->>'push' = 'true', false) as asked,
        updated_at < now() - make_interval(secs => ${staleAfterMs / 1000}) as stale
      from tasks where id = ${taskId} and owner_id = ${ownerId} for update`;
    if (!task) return { kind: 'missing' } as const;
    if (task.status !== 'succeeded') return { kind: 'refused', reason: `the task is ${task.status}: only a succeeded task's work is pushed` } as const;
    const state = task.push?.state ?? (task.asked ? 'pending' : null);
    if (state === 'pushed') return { kind: 'refused', reason: `the task is already pushed (branch ${task.push?.branch ?? '?'})` } as const;
    // A try pending past the longest a push may take was lost with its worker: it may be tried again.
    if (state === 'pending' && !task.stale) return { kind: 'refused', reason: 'a push of this task is already pending: wait for its outcome' } as const;
    const tries = (task.push?.tries ?? 0) + 1;
    const pending: TaskPush = { ...(task.push ?? emptyPush()), state: 'pending', error: null, tries };
    await tx`update tasks set push = ${tx.json(pending as never)}, updated_at = now() where id = ${taskId}`;
    return { kind: 'queued', tries } as const;
  });
}

export function emptyPush(): TaskPush {
  return { state: 'pending', branch: null, commit: null, remote: null, compare_url: null, error: null, tries: 0, pushed_at: null };
}
