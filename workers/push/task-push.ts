import { tmpdir } from 'node:os';
import { SecretBox, SecretBoxError } from '../../src/crypto/secret-box.js';
import type { Config } from '../../src/config/index.js';
import type { Sql } from '../../src/db/client.js';
import { emptyPush, loadPushJob, recordPush, type PushJobRow } from '../../src/db/task-push.js';
import { workspaceSecretAad } from '../../src/db/workspace-secrets.js';
import { compareUrl, pushCommitMessage, taskBranchName, type TaskPush } from '../../src/domain/branch-push.js';
import { gitSourcePolicy } from '../../src/domain/git-source-policy.js';
import type { Logger } from '../../src/observability/logger.js';
import { guardGitSource } from '../workspace/git-host-guard.js';
import { commitAndPush, PushError, type GitCredential, type GuardedRemote } from './branch-commit.js';

/**
 * One try of a task's branch push, from its row to the recorded outcome. Every refusal ends as `push.error`
 * on the task (the task itself stays succeeded, its result and diff untouched); nothing here throws for a
 * push that could not be made, so BullMQ never retries on its own (POST /tasks/{id}/push does).
 */
export async function pushTask(o: { sql: Sql; config: Config; logger: Logger; taskId: string; signal?: AbortSignal }): Promise<TaskPush | null> {
  const row = await loadPushJob(o.sql, o.taskId);
  if (!row || row.status !== 'succeeded') return null;
  const log = o.logger.child({ task_id: row.id, action: 'push' });
  const tries = row.push?.state === 'pending' && row.push.tries > 0 ? row.push.tries : (row.push?.tries ?? 0) + 1;
  const t0 = Date.now();
  // Whatever goes wrong ends as the task's push.error: a try left pending would block every retry.
  const outcome = await tryPush(o, row, tries).catch((err: unknown): TaskPush => {
    log.warn({ err }, 'push failed on the worker');
    const message = err instanceof Error ? err.message : String(err);
    return { ...emptyPush(), tries, state: 'failed', error: `the push failed on the worker: ${message.slice(0, 300)}` };
  });
  const pushMs = Date.now() - t0;
  await recordPush(o.sql, row.id, outcome);
  if (outcome.state === 'pushed') log.info({ branch: outcome.branch, commit: outcome.commit, push_ms: pushMs, tries }, 'task pushed');
  else log.warn({ reason: outcome.error, push_ms: pushMs, tries }, 'task push failed');
  return outcome;
}

async function tryPush(o: { config: Config; signal?: AbortSignal; logger: Logger }, row: PushJobRow, tries: number): Promise<TaskPush> {
  const base: TaskPush = { ...emptyPush(), tries };
  const fail = (error: string, more: Partial<TaskPush> = {}): TaskPush => ({ ...base, ...more, state: 'failed', error });
  const target = row.target;
  const source = row.source;
  if (target === null || source === null) return fail('the workspace has no push target (set push on the workspace)');
  if (source.type !== 'git') return fail('only a workspace with a git source can push');
  if (row.source_commit === null) return fail('the task has no recorded source commit (it ran before branch push existed)');
  if (row.diff_truncated) return fail('the task changed more than the stored diff holds; it cannot be pushed');
  if (!row.diff) return fail('the task changed no files: nothing to push');

  const policy = gitSourcePolicy(o.config.sandbox);
  const remoteUrl = target.remote === 'source' ? source.url : target.remote;
  const [sourceGuard, remoteGuard] = await Promise.all([guardGitSource({ url: source.url }, policy), guardGitSource({ url: remoteUrl }, policy)]);
  if (!sourceGuard.ok) return fail(`workspace source refused: ${sourceGuard.message}`);
  if (!remoteGuard.ok) return fail(`push remote refused: ${remoteGuard.message}`, { remote: remoteUrl });

  // A follow-up continues its parent's branch from the parent's commit; otherwise a new branch off the source.
  const parent = row.parent_push?.state === 'pushed' && row.parent_push.branch && row.parent_push.commit ? row.parent_push : null;
  const branch = parent?.branch ?? taskBranchName(target.branch_prefix, row.id);
  // The page compares the whole branch with what it started from: the source ref, else its commit.
  const compareBase = source.ref ?? row.source_commit;
  const shown = { branch, remote: remoteGuard.url };

  let credential: GitCredential | null;
  try {
    credential = openCredential(o.config, row);
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err), shown);
  }
  try {
    const { commit } = await commitAndPush({
      workRoot: tmpdir(),
      source: guarded(sourceGuard),
      sourceCommit: row.source_commit,
      diff: row.diff ?? '',
      remote: guarded(remoteGuard),
      credential,
      branch,
      parentCommit: parent?.commit ?? null,
      author: target.author,
      committer: target.committer,
      message: pushCommitMessage(row.prompt, row.result_text, row.id),
      timeoutMs: o.config.push.timeout,
      maxBinaryBytes: o.config.push.max_binary_bytes,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return {
      ...base,
      ...shown,
      state: 'pushed',
      commit,
      compare_url: compareUrl(remoteGuard.url, compareBase, branch),
      pushed_at: new Date().toISOString(),
    };
  } catch (err) {
    if (!(err instanceof PushError)) throw err;
    // git's own line stays in the worker log, for operators; the task shows the named refusal.
    o.logger.info({ task_id: row.id, action: 'push_refused', code: err.code, cause: causeLine(err) }, 'push refused');
    return fail(err.message, shown);
  }
}

function guarded(g: { url: string; transport: 'https' | 'file'; remoteConfigArgs: string[] }): GuardedRemote {
  return { url: g.url, transport: g.transport, remoteConfigArgs: g.remoteConfigArgs };
}

/** The workspace's git credential, opened only here, on the worker host; null when it has none. */
function openCredential(cfg: Config, row: PushJobRow): GitCredential | null {
  if (row.credential === null) return null;
  const box = SecretBox.fromConfig(cfg.secrets);
  if (box === null) {
    throw new Error("the workspace's git credential cannot be opened: this worker has no secrets.master_key (set AICLI__SECRETS__MASTER_KEY to the API's master key)");
  }
  try {
    const parsed = JSON.parse(box.open(row.credential, workspaceSecretAad(row.workspace_id, 'git_credential'))) as Partial<GitCredential>;
    if (typeof parsed.username !== 'string' || typeof parsed.password !== 'string') throw new Error('not a credential');
    return { username: parsed.username, password: parsed.password };
  } catch (err) {
    const why = err instanceof SecretBoxError ? err.message : 'it is not a stored credential';
    throw new Error(`the workspace's git credential cannot be opened: ${why}; store it again (PUT /api/v1/workspaces/{id}/git-credential)`, { cause: err });
  }
}

function causeLine(err: Error): string | undefined {
  const cause = err.cause;
  return cause instanceof Error ? cause.message.slice(0, 300) : undefined;
}
