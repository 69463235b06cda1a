import type { Sql } from '../db/client.js';
import { loadResumeSource } from '../db/task-artifacts.js';
import { isTerminalStatus } from '../domain/task-status.js';
import { DomainError, notFoundError } from '../domain/errors.js';

/** A follow-up resumes a finished task of the same owner and workspace that has a Claude session to resume. */
export async function checkResumable(sql: Sql, ownerId: string, workspaceId: string, resumeFrom: string): Promise<void> {
  const src = await loadResumeSource(sql, ownerId, resumeFrom);
  if (!src) throw notFoundError('resume_from task');
  if (src.workspace_id !== workspaceId) throw new DomainError('unprocessable', 'resume_from must name a task of the same workspace');
  if (!isTerminalStatus(src.status)) {
    throw new DomainError('conflict', `resume_from task is still ${src.status}: wait until it finishes`);
  }
  if (!src.session_id || !src.transcript) throw new DomainError('unprocessable', 'resume_from task has no Claude session to resume');
  if (src.diff_truncated) throw new DomainError('unprocessable', 'resume_from task changed more than the stored diff holds; it cannot be resumed');
}
