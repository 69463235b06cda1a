import { chmod, lchown, lstat, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Resolver } from '../../src/net/address-guard.js';
import { applyPatch, createBaseline, type GitStepOptions } from './diff.js';
import { GitError, runGit } from './git.js';
import { guardGitSource, type GuardedGitSource } from './git-host-guard.js';
import { isCommitSha, type GitSourcePolicy } from '../../src/domain/git-source-policy.js';
import type { PreparedWorkspace } from './prepared-workspace.js';

export type WorkspaceSource = { type: 'empty' } | { type: 'git'; url: string; ref?: string };

export interface PrepareWorkspaceOptions {
  scratchRoot: string;
  taskId: string;
  attempt: number;
  source: WorkspaceSource;
  policy: GitSourcePolicy;
  /** Answers the host names of https:// sources; default: the system resolver. */
  resolver?: Resolver;
  /** Owner of the workspace and claude dirs: the container's user. Default 1000. */
  uid?: number;
  /** Default 1000. */
  gid?: number;
  /**
   * A `workspaceDiff` of an earlier task, replayed on top of the source. It is
   * applied after the baseline is recorded, so this task's diff is again
   * relative to the source (diffs stay cumulative along a follow-up chain).
   */
  patch?: string | null;
  /** For the whole preparation (clone, baseline, patch). Default 120 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Prepare into this layout, made empty beforehand by makeWorkspaceDirs (a pool slot whose sandbox already
   * mounts its dirs), instead of a fresh `<scratchRoot>/<taskId>-<attempt>`; it is checked to be empty.
   */
  inPlace?: PreparedWorkspace;
  /**
   * With inPlace: its baseline.git already records the empty workspace (made with the layout). An empty source
   * with no patch keeps it; any other source replaces it after the clone.
   */
  baselineReady?: boolean;
  /**
   * With inPlace: a CLI already runs on this layout (a warm sandbox's started CLI), so its claude dir is the
   * sandbox user's and holds that CLI's start-up state; only the workspace dir is checked to be empty.
   */
  cliStarted?: boolean;
}

export type WorkspaceErrorCode = 'source_refused' | 'git_failed' | 'patch_failed' | 'timeout' | 'aborted' | 'io_failed';

export class WorkspaceError extends Error {
  override readonly name = 'WorkspaceError';
  constructor(
    message: string,
    readonly code: WorkspaceErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const DEFAULT_PREPARE_TIMEOUT_MS = 120_000;
const SANDBOX_ID = 1000;
const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const SCRATCH_DIR_NAME = /^([A-Za-z0-9][A-Za-z0-9_-]{0,127})-(\d{1,15})$/;

/** `<taskId>-<attempt>`; `parseScratchDirName` reads it back for orphan reapers. */
export function scratchDirName(taskId: string, attempt: number): string {
  if (!TASK_ID.test(taskId)) throw new WorkspaceError('taskId must be 1-128 letters, digits, "-" or "_"', 'io_failed');
  if (!Number.isSafeInteger(attempt) || attempt < 0) throw new WorkspaceError('attempt must be a non-negative integer', 'io_failed');
  return `${taskId}-${attempt}`;
}

export function parseScratchDirName(name: string): { taskId: string; attempt: number } | null {
  const match = SCRATCH_DIR_NAME.exec(name);
  if (!match?.[1] || match[2] === undefined) return null;
  return { taskId: match[1], attempt: Number(match[2]) };
}

/** The dirs of a workspace rooted at `root`. */
export function workspaceLayout(root: string): PreparedWorkspace {
  return {
    root,
    workspaceDir: path.join(root, 'workspace'),
    claudeConfigDir: path.join(root, 'claude'),
    baselineGitDir: path.join(root, 'baseline.git'),
    sourceCommit: null,
  };
}

export async function prepareWorkspace(opts: PrepareWorkspaceOptions): Promise<PreparedWorkspace> {
  const name = scratchDirName(opts.taskId, opts.attempt);
  // Refuse a bad source before touching the disk or running git.
  const clone = opts.source.type === 'git' ? await resolveCloneTarget(opts.source, opts.policy, opts.resolver) : null;

  const ws: PreparedWorkspace = opts.inPlace ? { ...opts.inPlace, sourceCommit: null } : workspaceLayout(path.join(path.resolve(opts.scratchRoot), name));
  const root = ws.root;
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_PREPARE_TIMEOUT_MS);
  const step = (): GitStepOptions => ({ timeoutMs: Math.max(1, deadline - Date.now()), ...(opts.signal ? { signal: opts.signal } : {}) });

  try {
    const premadeBaseline = opts.inPlace !== undefined && opts.baselineReady === true;
    if (opts.inPlace) await checkEmptyLayout(ws, premadeBaseline, opts.cliStarted === true);
    else await makeScratchDirs(opts.scratchRoot, ws);
    if (clone !== null && opts.source.type === 'git') {
      ws.sourceCommit = await cloneSource(ws, clone, opts.source.ref, step);
    }
    // The empty workspace's baseline was recorded with the layout; a clone needs its own.
    if (!premadeBaseline || clone !== null) {
      if (premadeBaseline) await rm(ws.baselineGitDir, { recursive: true, force: true });
      await createBaseline(ws, step()).catch((error: unknown) => {
        throw gitStepError('workspace baseline', error);
      });
    }
    if (opts.patch) await replayPatch(ws, opts.patch, step());
    await handOver(ws, opts.uid ?? SANDBOX_ID, opts.gid ?? SANDBOX_ID);
    return ws;
  } catch (error) {
    // An in-place layout belongs to its pool slot, which removes it whole.
    if (!opts.inPlace) await rm(root, { recursive: true, force: true }).catch(() => {});
    throw toWorkspaceError(error);
  }
}

/** rm -rf of the attempt's scratch dir; idempotent. Refuses paths that are not scratch dirs. */
export async function removeWorkspace(ws: PreparedWorkspace | string): Promise<void> {
  const root = path.resolve(typeof ws === 'string' ? ws : ws.root);
  if (parseScratchDirName(path.basename(root)) === null) {
    throw new WorkspaceError(`refusing to remove ${root}: not a scratch dir (<taskId>-<attempt>)`, 'io_failed');
  }
  await rm(root, { recursive: true, force: true, maxRetries: 3 });
}

type CloneTarget = Extract<GuardedGitSource, { ok: true }>;

async function resolveCloneTarget(source: { url: string; ref?: string }, policy: GitSourcePolicy, resolver: Resolver | undefined): Promise<CloneTarget> {
  const guarded = await guardGitSource(source, policy, resolver);
  if (!guarded.ok) throw new WorkspaceError(`workspace source refused: ${guarded.message}`, 'source_refused');
  return guarded;
}

async function makeScratchDirs(scratchRoot: string, ws: PreparedWorkspace): Promise<void> {
  await mkdir(scratchRoot, { recursive: true, mode: 0o700 });
  // A leftover of a crashed worker with the same attempt (the attempt number is a fencing token, so never live).
  await rm(ws.root, { recursive: true, force: true });
  await makeWorkspaceDirs(ws);
}

/**
 * The empty, root-owned workspace and claude dirs under a new `ws.root` (which must not exist). A pool slot
 * makes them before its sandbox starts, so the sandbox's mounts are these dirs; the task's workspace is
 * prepared into them at claim and handed to the sandbox user only then.
 */
export async function makeWorkspaceDirs(ws: PreparedWorkspace): Promise<void> {
  await mkdir(ws.root, { mode: 0o700 });
  // The container reaches its bind mounts without walking the host path, so the root stays 0700.
  // (chmod too: mkdir's mode is filtered by the umask.)
  await chmod(ws.root, 0o700);
  await mkdir(ws.workspaceDir, { mode: 0o755 });
  await mkdir(ws.claudeConfigDir, { mode: 0o700 });
  await chmod(ws.claudeConfigDir, 0o700);
}

/** An in-place layout must be exactly what makeWorkspaceDirs left: real, empty, root-owned dirs. */
async function checkEmptyLayout(ws: PreparedWorkspace, withBaseline: boolean, cliStarted: boolean): Promise<void> {
  const owners: Array<[string, number | undefined]> = [
    [ws.root, process.getuid?.()],
    [ws.workspaceDir, process.getuid?.()],
    [ws.claudeConfigDir, cliStarted ? SANDBOX_ID : process.getuid?.()],
  ];
  for (const [dir, uid] of owners) {
    const info = await lstat(dir);
    if (!info.isDirectory() || info.uid !== uid) throw new WorkspaceError(`${dir} is not a directory this worker made`, 'io_failed');
  }
  const held = [...(await readdir(ws.workspaceDir)), ...(cliStarted ? [] : await readdir(ws.claudeConfigDir))];
  if (held.length > 0 || (await readdir(ws.root)).length !== (withBaseline ? 3 : 2)) throw new WorkspaceError(`${ws.root} is not an empty workspace layout`, 'io_failed');
}

/** Clones into the (empty) workspace dir; returns the checked-out commit. */
async function cloneSource(ws: PreparedWorkspace, target: CloneTarget, ref: string | undefined, step: () => GitStepOptions): Promise<string> {
  const git = (args: string[], what: string): Promise<Buffer> =>
    runGit(args, { cwd: ws.root, home: ws.root, ...step() }).then(
      (result) => result.stdout,
      (error: unknown) => {
        throw gitStepError(what, error);
      },
    );
  // Only the steps that reach the remote get the address pin.
  const fetchFromRemote = (args: string[], what: string): Promise<Buffer> =>
    git([...target.remoteConfigArgs, ...args], what).catch((error: unknown) => {
      throw target.transport === 'https' ? unfetchable(error) : error;
    });
  const ownGitDir = [`--git-dir=${path.join(ws.workspaceDir, '.git')}`, `--work-tree=${ws.workspaceDir}`];
  const url = target.url;

  if (ref !== undefined && isCommitSha(ref)) {
    // clone --branch takes names only; a commit is fetched by id (protocol v2 serves any reachable commit).
    await git(['init', '-q', '--template=', '--', ws.workspaceDir], 'git init');
    await git([...ownGitDir, 'remote', 'add', 'origin', url], 'git remote add');
    await fetchFromRemote([...ownGitDir, 'fetch', '-q', '--depth', '1', '--no-tags', 'origin', ref], 'git fetch');
    await git([...ownGitDir, 'checkout', '-q', '--detach', ref], 'git checkout');
  } else {
    const branch = ref === undefined ? [] : ['--branch', ref];
    await fetchFromRemote(['clone', '-q', '--depth', '1', '--template=', ...branch, '--', url, ws.workspaceDir], 'git clone');
  }
  return (await git([...ownGitDir, 'rev-parse', 'HEAD'], 'git rev-parse')).toString('utf8').trim();
}

/**
 * One message for every way an https:// fetch fails: git's text would tell a
 * refused port from a silent one or a TLS error, which makes clones a port
 * scanner. The cause keeps git's line, and the worker logs it for operators.
 */
const SOURCE_UNFETCHABLE = 'git clone failed: the source could not be fetched';

function unfetchable(error: unknown): unknown {
  if (!(error instanceof WorkspaceError) || (error.code !== 'git_failed' && error.code !== 'timeout')) return error;
  return new WorkspaceError(SOURCE_UNFETCHABLE, error.code, { cause: error.cause ?? error });
}

async function replayPatch(ws: PreparedWorkspace, patch: string, step: GitStepOptions): Promise<void> {
  try {
    await applyPatch(ws, patch, step);
  } catch (error) {
    const wrapped = gitStepError('patch', error);
    throw wrapped.code === 'git_failed' ? new WorkspaceError(`patch does not apply: ${detailOf(error)}`, 'patch_failed', { cause: error }) : wrapped;
  }
}

/** Gives the workspace and claude dirs to the sandbox user; baseline.git stays root's. */
async function handOver(ws: PreparedWorkspace, uid: number, gid: number): Promise<void> {
  try {
    await chownTree(ws.workspaceDir, uid, gid);
    await chownTree(ws.claudeConfigDir, uid, gid);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new WorkspaceError(`cannot give the workspace to ${uid}:${gid} (the worker must run as root or as that user): ${reason}`, 'io_failed', { cause: error });
  }
}

/**
 * lchown, never chown: the tree holds symlinks from the cloned repo (or a
 * replayed patch) that may point anywhere on the host.
 */
async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await lchown(dir, uid, gid);
  const entries = await readdir(dir, { withFileTypes: true });
  await Promise.all(
    entries.map((entry) => {
      const child = path.join(dir, entry.name);
      return entry.isDirectory() ? chownTree(child, uid, gid) : lchown(child, uid, gid);
    }),
  );
}

function detailOf(error: unknown): string {
  if (error instanceof GitError) return error.detail;
  return error instanceof Error ? error.message : String(error);
}

function gitStepError(what: string, error: unknown): WorkspaceError {
  if (error instanceof WorkspaceError) return error;
  if (error instanceof GitError) {
    switch (error.reason) {
      case 'timeout':
        return new WorkspaceError(`${what} timed out`, 'timeout', { cause: error });
      case 'aborted':
        return new WorkspaceError(`${what} aborted`, 'aborted', { cause: error });
      case 'exit':
      case 'spawn':
        return new WorkspaceError(`${what} failed: ${error.detail}`, 'git_failed', { cause: error });
    }
  }
  return toWorkspaceError(error);
}

function toWorkspaceError(error: unknown): WorkspaceError {
  if (error instanceof WorkspaceError) return error;
  if (error instanceof GitError) return gitStepError('git', error);
  const message = error instanceof Error ? error.message : String(error);
  return new WorkspaceError(`workspace preparation failed: ${message}`, 'io_failed', { cause: error });
}
