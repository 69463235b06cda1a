import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { GitIdentity } from '../../src/domain/branch-push.js';
import { GitError, runGit, summariseGitStderr, type GitResult } from '../workspace/git.js';

/**
 * Builds and pushes a task's commit on the worker host, in a fresh bare repository under a root-only
 * directory: never in the agent's workspace, never with its `.git`. The diff (which the agent wrote) is
 * applied with `git apply --cached` to an index read from the source commit, so it is only ever turned into
 * objects: no file is written from it, no symlink in it can be followed, and the index refuses `.git`,
 * `..` and absolute paths. No hook or config of anyone's runs (runGit's hardening, `--template=`).
 */

export type PushErrorCode = 'nothing_to_push' | 'apply_failed' | 'rejected' | 'auth_failed' | 'unreachable' | 'git_failed';

export class PushError extends Error {
  override readonly name = 'PushError';
  constructor(
    readonly code: PushErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A git remote the guard approved: the URL to hand git and the address pin for the commands that reach it. */
export interface GuardedRemote {
  url: string;
  transport: 'https' | 'file';
  remoteConfigArgs: readonly string[];
}

export interface GitCredential {
  username: string;
  password: string;
}

export interface BranchCommitPlan {
  /** Where the work dir is made (mkdtemp: a fresh directory only its owner, root, can enter) and removed. */
  workRoot: string;
  source: GuardedRemote;
  /** The commit the task's workspace was cloned at; the diff applies to its tree. */
  sourceCommit: string;
  /** The task's diff against sourceCommit (`git diff --binary`). */
  diff: string;
  remote: GuardedRemote;
  credential: GitCredential | null;
  branch: string;
  /** The commit the new one goes on top of: the parent task's pushed commit, or (null) the source commit. */
  parentCommit: string | null;
  author: GitIdentity;
  committer: GitIdentity;
  message: string;
  /** For the whole build and push. */
  timeoutMs: number;
  /** The most the diff's binary patches may inflate to (their declared sizes, which git apply enforces). */
  maxBinaryBytes: number;
  signal?: AbortSignal;
}

export async function commitAndPush(plan: BranchCommitPlan): Promise<{ commit: string }> {
  const dir = await mkdtemp(path.join(plan.workRoot, 'aicli-push-'));
  try {
    return await buildAndPush(plan, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function buildAndPush(plan: BranchCommitPlan, dir: string): Promise<{ commit: string }> {
  const gitDir = path.join(dir, 'repo.git');
  const deadline = Date.now() + plan.timeoutMs;
  const git: Git = (args, o = {}) =>
    runGit([`--git-dir=${gitDir}`, ...args], {
      cwd: dir,
      home: dir,
      timeoutMs: Math.max(1, deadline - Date.now()),
      ...(plan.signal ? { signal: plan.signal } : {}),
      ...(o.input !== undefined ? { input: o.input } : {}),
      ...(o.okExitCodes ? { okExitCodes: o.okExitCodes } : {}),
      env: { GIT_INDEX_FILE: path.join(dir, 'index'), ...o.env },
    });
  const auth = credentialEnv(plan.credential);
  const sameRemote = plan.remote.url === plan.source.url;

  await runGit(['init', '-q', '--bare', '--template=', '--', gitDir], { cwd: dir, home: dir, timeoutMs: 10_000 });
  // Shallow is enough when the commit goes back to the remote it came from; another remote needs the history.
  const depth = sameRemote ? ['--depth=1'] : [];
  await fetchCommit(git, plan.source, plan.sourceCommit, depth, sameRemote ? auth : {});
  if (plan.parentCommit !== null) await fetchCommit(git, plan.remote, plan.parentCommit, ['--depth=1'], auth);

  checkBinarySizes(plan.diff, plan.maxBinaryBytes);
  await git(['read-tree', plan.sourceCommit]).catch(failed('git read-tree'));
  await git(['apply', '--cached', '--whitespace=nowarn', '-'], { input: plan.diff }).catch((error: unknown) => {
    throw new PushError('apply_failed', `the task's diff does not apply to the source commit: ${detailOf(error)}`, { cause: error });
  });
  const tree = (await git(['write-tree']).catch(failed('git write-tree'))).stdout.toString('utf8').trim();
  const parent = plan.parentCommit ?? plan.sourceCommit;
  const parentTree = (await git(['rev-parse', `${parent}^{tree}`]).catch(failed('git rev-parse'))).stdout.toString('utf8').trim();
  if (tree === parentTree) throw new PushError('nothing_to_push', 'the task changed no files (after its parent\'s): nothing to push');

  const commit = (
    await git(['commit-tree', tree, '-p', parent, '-F', '-'], { input: plan.message, env: identityEnv(plan.author, plan.committer) }).catch(failed('git commit-tree'))
  ).stdout
    .toString('utf8')
    .trim();
  await pushCommit(git, plan, commit, auth);
  return { commit };
}

/**
 * `literal N` / `delta N` open each deflated binary patch with the size it inflates to; git apply refuses a
 * patch whose data inflates to anything else, so the sum bounds what applying it writes.
 */
function checkBinarySizes(diff: string, maxBytes: number): void {
  let total = 0;
  for (const match of diff.matchAll(/^(?:literal|delta) (\d+)$/gm)) total += Number(match[1]);
  if (total > maxBytes) {
    throw new PushError('apply_failed', `the task's diff holds binary files of ${total} bytes; the most a push takes is ${maxBytes} (push.max_binary_bytes)`);
  }
}

type Git = (args: readonly string[], o?: { input?: string; env?: Record<string, string>; okExitCodes?: number[] }) => Promise<GitResult>;

async function fetchCommit(git: Git, remote: GuardedRemote, commit: string, depth: string[], env: Record<string, string>): Promise<void> {
  await git([...remote.remoteConfigArgs, 'fetch', '-q', '--no-tags', ...depth, '--', remote.url, commit], { env }).catch((error: unknown) => {
    throw remoteFailure(remote, error, `commit ${commit.slice(0, 12)} could not be fetched`);
  });
}

async function pushCommit(git: Git, plan: BranchCommitPlan, commit: string, env: Record<string, string>): Promise<void> {
  // Never --force: a branch that moved (or already exists elsewhere) is refused as a non-fast-forward.
  const refspec = `${commit}:refs/heads/${plan.branch}`;
  const what = `branch ${plan.branch} could not be pushed`;
  // Exit 1 is also a refused ref: --porcelain says which on stdout.
  const pushed = await git([...plan.remote.remoteConfigArgs, 'push', '--porcelain', '--no-verify', '--', plan.remote.url, refspec], { env, okExitCodes: [0, 1] }).catch(
    (error: unknown) => {
      throw remoteFailure(plan.remote, error, what);
    },
  );
  const rejected = /^!\t[^\t]*\t\[(?:rejected|remote rejected)\] ?(.*)$/m.exec(pushed.stdout.toString('utf8'));
  if (rejected) throw new PushError('rejected', `the remote refused branch ${plan.branch}: ${rejected[1] || 'rejected'}`);
  if (pushed.exitCode !== 0) throw remoteFailure(plan.remote, new GitError('git push failed', 'exit', summariseGitStderr(pushed.stderr), pushed.exitCode), what);
}

/**
 * One message per kind of failure. The remote's own refusal (a non-fast-forward, bad credentials) is named;
 * for https anything else reads alike (a refused port, a silent one, a TLS error), as for clones, so a push
 * target is not a port scanner. The cause keeps git's line for the worker log.
 */
function remoteFailure(remote: GuardedRemote, error: unknown, what: string): PushError {
  if (error instanceof PushError) return error;
  const detail = detailOf(error);
  if (/\[rejected\]|non-fast-forward|fetch first/.test(detail)) return new PushError('rejected', `${what}: the remote refused it (${detail})`, { cause: error });
  if (/Authentication failed|returned error: 40[13]|could not read Username|terminal prompts disabled|Invalid username or password/i.test(detail)) {
    return new PushError('auth_failed', `${what}: the remote refused the workspace's git credential (set it with PUT /api/v1/workspaces/{id}/git-credential)`, { cause: error });
  }
  if (error instanceof GitError && error.reason === 'timeout') return new PushError('unreachable', `${what}: the remote did not answer in time`, { cause: error });
  if (remote.transport === 'https') return new PushError('unreachable', `${what}: the remote could not be reached`, { cause: error });
  return new PushError('git_failed', `${what}: ${detail}`, { cause: error });
}

/** Basic auth as a header, handed to git in its environment: never in a URL, an argument or a file. */
function credentialEnv(credential: GitCredential | null): Record<string, string> {
  if (credential === null) return {};
  const basic = Buffer.from(`${credential.username}:${credential.password}`, 'utf8').toString('base64');
  return { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}` };
}

function identityEnv(author: GitIdentity, committer: GitIdentity): Record<string, string> {
  return {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: committer.name,
    GIT_COMMITTER_EMAIL: committer.email,
  };
}

function failed(what: string): (error: unknown) => never {
  return (error) => {
    throw new PushError('git_failed', `${what} failed: ${detailOf(error)}`, { cause: error });
  };
}

function detailOf(error: unknown): string {
  if (error instanceof GitError) return error.detail;
  return error instanceof Error ? error.message : String(error);
}
