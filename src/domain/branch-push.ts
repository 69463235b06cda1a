import { hasControlCharacter, isSafeRefName } from './git-source-policy.js';

/**
 * Branch push: where a succeeded task's diff is committed and pushed, and what the task then shows.
 * Shared by the API (validation, the task JSON) and the worker's pusher.
 */

export interface GitIdentity {
  name: string;
  email: string;
}

/** A workspace's push target as stored (workspaces.push). */
export interface PushTarget {
  /** `source`: the workspace's own git source; else an https:// or file:// URL checked like a source. */
  remote: string;
  branch_prefix: string;
  /** Tasks of this workspace push unless they ask `push: false`. */
  default: boolean;
  author: GitIdentity;
  committer: GitIdentity;
}

export type PushState = 'pending' | 'pushed' | 'failed';

/** A task's push as stored (tasks.push) and shown in its JSON. */
export interface TaskPush {
  state: PushState;
  branch: string | null;
  commit: string | null;
  /** The remote's URL, never with credentials (they are sent as a header, never put in a URL). */
  remote: string | null;
  compare_url: string | null;
  error: string | null;
  tries: number;
  pushed_at: string | null;
}

export const DEFAULT_BRANCH_PREFIX = 'aicli/';
export const DEFAULT_GIT_IDENTITY: GitIdentity = { name: 'AICode Manager', email: 'aicli@localhost' };

/** The `<prefix><short task id>` branch of a task that does not continue its parent's. */
export function taskBranchName(prefix: string, taskId: string): string {
  return `${prefix}${taskId.replace(/-/g, '').slice(0, 8)}`;
}

/** A prefix that makes a safe branch name with any short id after it (a `/`-ended path, or a plain word). */
export function isSafeBranchPrefix(prefix: string): boolean {
  if (prefix.length > 100) return false;
  return isSafeRefName(`${prefix}0123abcd`);
}

/** A name or e-mail git writes into a commit header: one line, no `<`/`>` that would end the field. */
export function isSafeIdentityField(value: string): boolean {
  return value.trim().length > 0 && value.length <= 200 && !/[<>]/.test(value) && !hasControlCharacter(value);
}

/**
 * The page that compares the pushed branch with its base, for GitHub and GitLab hosts (github.com, gitlab.com
 * and hosts named gitlab.*); null for any other host or a file:// remote.
 */
export function compareUrl(remote: string, base: string, branch: string): string | null {
  let url: URL;
  try {
    url = new URL(remote);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:') return null;
  const project = url.pathname.replace(/\/+$/, '').replace(/\.git$/, '');
  if (!/^\/[^/]+\/.+$/.test(project)) return null;
  const host = url.host.toLowerCase();
  const range = `${encodeRef(base)}...${encodeRef(branch)}`;
  if (url.hostname === 'github.com') return `https://${host}${project}/compare/${range}`;
  if (url.hostname === 'gitlab.com' || url.hostname.startsWith('gitlab.')) return `https://${host}${project}/-/compare/${range}`;
  return null;
}

function encodeRef(ref: string): string {
  return ref.split('/').map(encodeURIComponent).join('/');
}

const SUBJECT_CHARS = 72;
const BODY_CHARS = 4000;

/** The commit message: the prompt's first line as the subject, then the prompt and the result, bounded. */
export function pushCommitMessage(prompt: string, resultText: string | null, taskId: string): string {
  const firstLine = prompt.split('\n').find((line) => line.trim() !== '')?.trim() ?? 'Task';
  const subject = firstLine.length > SUBJECT_CHARS ? `${firstLine.slice(0, SUBJECT_CHARS - 1)}…` : firstLine;
  const clip = (text: string) => (text.length > BODY_CHARS ? `${text.slice(0, BODY_CHARS)}…` : text);
  const parts = [subject, '', `Prompt:\n${clip(prompt.trim())}`];
  if (resultText && resultText.trim() !== '') parts.push('', `Result:\n${clip(resultText.trim())}`);
  parts.push('', `AICode-Task: ${taskId}`);
  // NUL cannot be in a commit message handed to git on stdin as text; the agent's result may hold one.
  return `${parts.join('\n').replace(/\0/g, '')}\n`;
}
