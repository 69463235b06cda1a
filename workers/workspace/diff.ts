import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runGit, type GitResult } from './git.js';
import type { PreparedWorkspace } from './prepared-workspace.js';

/**
 * The baseline is a separate git dir (`<root>/baseline.git`) whose work tree is
 * the mounted workspace: the agent can't reach it, and the workspace's own
 * `.git` (which the agent controls) is never read on the host. git never
 * records a path named `.git`, so a cloned workspace's own repository is
 * invisible to the baseline.
 */

export type BaselineLocation = Pick<PreparedWorkspace, 'root' | 'workspaceDir' | 'baselineGitDir'>;

export type DiffFileStatus = 'added' | 'modified' | 'deleted' | 'renamed';

export interface WorkspaceDiffFile {
  path: string;
  status: DiffFileStatus;
  /** The old path of a rename. */
  previousPath?: string;
}

export interface SkippedPath {
  path: string;
  /** `nested_repository`: a directory holding its own `.git` (git would record a bare gitlink); `invalid_path`: a name git refuses, like `.GIT/x`. */
  reason: 'nested_repository' | 'invalid_path';
}

export interface WorkspaceDiff {
  /** `git diff --binary` of the workspace against its starting point; `git apply` reproduces it. */
  diff: string;
  truncated: boolean;
  files: WorkspaceDiffFile[];
  /** Paths the diff could not carry. */
  skipped: SkippedPath[];
}

export interface GitStepOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export const DEFAULT_MAX_DIFF_BYTES = 5 * 1024 * 1024;
const DEFAULT_DIFF_TIMEOUT_MS = 60_000;

/**
 * Highest-precedence attributes: the in-tree `.gitattributes` must not make
 * `git add` rewrite content (eol conversion, `$Id$`, encodings), or the diff
 * would not reproduce the bytes the agent left.
 */
const BASELINE_ATTRIBUTES = '* -text -eol -ident -filter -working-tree-encoding\n';

const COMMITTER = ['-c', 'user.name=aicli', '-c', 'user.email=aicli@localhost', '-c', 'commit.gpgSign=false'];

function baselineGit(ws: BaselineLocation, args: readonly string[], options: GitStepOptions & { input?: Buffer; maxStdoutBytes?: number; okExitCodes?: number[] }): Promise<GitResult> {
  return runGit([`--git-dir=${ws.baselineGitDir}`, `--work-tree=${ws.workspaceDir}`, ...args], {
    cwd: ws.workspaceDir,
    home: ws.root,
    ...options,
  });
}

/** Records the current content of the workspace as the starting point of later diffs. */
export async function createBaseline(ws: BaselineLocation, options: GitStepOptions = {}): Promise<void> {
  await baselineGit(ws, ['init', '-q', '--template='], options);
  await writeAttributes(ws, []);
  await stageWorktree(ws, options);
  await baselineGit(ws, [...COMMITTER, 'commit', '-q', '--allow-empty', '--no-verify', '-m', 'baseline'], options);
}

/** Applies a diff made by `workspaceDiff` (possibly of another workspace of the same source). */
export async function applyPatch(ws: BaselineLocation, patch: string, options: GitStepOptions = {}): Promise<void> {
  // Run as the baseline repo so its attributes apply and paths resolve from the workspace top;
  // git apply refuses paths outside the tree and writes through symlinks.
  await baselineGit(ws, ['apply', '--whitespace=nowarn', '-'], { ...options, input: Buffer.from(patch, 'utf8') });
}

export async function workspaceDiff(ws: PreparedWorkspace | BaselineLocation, opts: { maxBytes?: number } & GitStepOptions = {}): Promise<WorkspaceDiff> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_DIFF_BYTES;
  const step: GitStepOptions = { timeoutMs: opts.timeoutMs ?? DEFAULT_DIFF_TIMEOUT_MS, ...(opts.signal ? { signal: opts.signal } : {}) };
  const skipped = await stageWorktree(ws, step);
  const changes = await listChanges(ws, step);

  let output = await renderDiff(ws, maxBytes, step);
  const unsafe = unsafeSections(output.text, changes);
  if (unsafe.length > 0) {
    // A text diff of non-UTF-8 (or NUL-bearing) content can't survive a JS string: send those files as binary patches.
    await writeAttributes(ws, unsafe);
    output = await renderDiff(ws, maxBytes, step);
    if (unsafeSections(output.text, changes).length > 0) {
      await writeAttributes(ws, changes);
      output = await renderDiff(ws, maxBytes, step);
    }
  }
  return {
    diff: output.text.toString('utf8'),
    truncated: output.truncated,
    files: changes.map(toDiffFile),
    skipped,
  };
}

interface RawChange {
  status: DiffFileStatus;
  path: Buffer;
  previousPath: Buffer | null;
}

function toDiffFile(change: RawChange): WorkspaceDiffFile {
  const file: WorkspaceDiffFile = { path: change.path.toString('utf8'), status: change.status };
  if (change.previousPath) file.previousPath = change.previousPath.toString('utf8');
  return file;
}

/**
 * `add -A` the workspace into the baseline index, leaving out nested
 * repositories (git would store a useless gitlink, and fails outright on
 * one without commits) and names git refuses (`--ignore-errors` keeps going).
 */
async function stageWorktree(ws: BaselineLocation, options: GitStepOptions): Promise<SkippedPath[]> {
  const untracked = await baselineGit(ws, ['ls-files', '-z', '--others', '--exclude-standard'], options);
  // Without --directory, the only untracked entries ending in '/' are repositories.
  const nested = splitNul(untracked.stdout).filter((entry) => entry[entry.length - 1] === 0x2f);
  const pathspecs = [Buffer.from('.'), ...nested.map((dir) => Buffer.concat([Buffer.from(':(exclude,literal)'), dir]))];
  const added = await baselineGit(ws, ['add', '--ignore-errors', '-A', '--pathspec-from-file=-', '--pathspec-file-nul'], {
    ...options,
    input: Buffer.concat(pathspecs.flatMap((spec) => [spec, Buffer.from([0])])),
    okExitCodes: [0, 1],
  });
  const invalid = [...added.stderr.matchAll(/^error: unable to add '(.*)' to index$/gm)].map((match) => match[1] ?? '');
  return [
    ...nested.map((dir): SkippedPath => ({ path: dir.subarray(0, -1).toString('utf8'), reason: 'nested_repository' })),
    ...invalid.map((file): SkippedPath => ({ path: file, reason: 'invalid_path' })),
  ];
}

async function listChanges(ws: BaselineLocation, options: GitStepOptions): Promise<RawChange[]> {
  const { stdout } = await baselineGit(ws, ['diff', '--cached', '--name-status', '-z', '-M', '--no-ext-diff', 'HEAD', '--'], options);
  const fields = splitNul(stdout);
  const changes: RawChange[] = [];
  for (let i = 0; i < fields.length; ) {
    const code = fields[i]?.toString('latin1') ?? '';
    const letter = code[0];
    if (letter === 'R' || letter === 'C') {
      const from = fields[i + 1];
      const to = fields[i + 2];
      if (!from || !to) break;
      changes.push(letter === 'R' ? { status: 'renamed', path: to, previousPath: from } : { status: 'added', path: to, previousPath: null });
      i += 3;
      continue;
    }
    const file = fields[i + 1];
    if (!file) break;
    const status: DiffFileStatus = letter === 'A' ? 'added' : letter === 'D' ? 'deleted' : 'modified';
    changes.push({ status, path: file, previousPath: null });
    i += 2;
  }
  return changes;
}

async function renderDiff(ws: BaselineLocation, maxBytes: number, options: GitStepOptions): Promise<{ text: Buffer; truncated: boolean }> {
  const { stdout } = await baselineGit(
    ws,
    ['diff', '--cached', '--binary', '-M', '--no-color', '--no-ext-diff', '--no-textconv', 'HEAD', '--'],
    { ...options, maxStdoutBytes: maxBytes + 1 },
  );
  if (stdout.length <= maxBytes) return { text: stdout, truncated: false };
  return { text: cutAtLineEnd(stdout, maxBytes), truncated: true };
}

/** The longest prefix of whole lines within `maxBytes` (so no UTF-8 sequence is split). */
function cutAtLineEnd(buffer: Buffer, maxBytes: number): Buffer {
  const lastNewline = buffer.lastIndexOf(0x0a, maxBytes - 1);
  return buffer.subarray(0, lastNewline + 1);
}

const DIFF_HEADER = Buffer.from('diff --git ');
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The changes whose section of the diff is not clean UTF-8 text. Sections come
 * in the same order as `--name-status` lists files, and a header line can't
 * occur inside a section (hunk lines carry a prefix, base85 has no spaces).
 */
function unsafeSections(diff: Buffer, changes: RawChange[]): RawChange[] {
  const starts: number[] = [];
  for (let at = diff.indexOf(DIFF_HEADER); at !== -1; at = diff.indexOf(DIFF_HEADER, at + 1)) {
    if (at === 0 || diff[at - 1] === 0x0a) starts.push(at);
  }
  const unsafe: RawChange[] = [];
  starts.forEach((start, index) => {
    const section = diff.subarray(start, starts[index + 1] ?? diff.length);
    if (isCleanText(section)) return;
    const change = changes[index];
    // Sections and files disagree: mark everything rather than the wrong file.
    if (!change) unsafe.push(...changes);
    else unsafe.push(change);
  });
  return [...new Set(unsafe)];
}

function isCleanText(bytes: Buffer): boolean {
  if (bytes.includes(0)) return false;
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

async function writeAttributes(ws: BaselineLocation, binaryChanges: RawChange[]): Promise<void> {
  const lines: Buffer[] = [Buffer.from(BASELINE_ATTRIBUTES)];
  for (const change of binaryChanges) {
    for (const file of [change.path, change.previousPath]) {
      if (file) lines.push(Buffer.concat([quoteAttributePattern(file), Buffer.from(' -diff\n')]));
    }
  }
  const infoDir = path.join(ws.baselineGitDir, 'info');
  await mkdir(infoDir, { recursive: true });
  await writeFile(path.join(infoDir, 'attributes'), Buffer.concat(lines));
}

/** An anchored, glob-escaped, C-quoted gitattributes pattern matching exactly `file` (raw bytes). */
function quoteAttributePattern(file: Buffer): Buffer {
  const out: number[] = [0x22, 0x2f]; // "/
  const pushQuoted = (byte: number): void => {
    if (byte === 0x22 || byte === 0x5c) out.push(0x5c, byte);
    else if (byte < 0x20 || byte >= 0x7f) out.push(...Buffer.from(`\\${byte.toString(8).padStart(3, '0')}`));
    else out.push(byte);
  };
  for (const byte of file) {
    if (byte === 0x2a || byte === 0x3f || byte === 0x5b || byte === 0x5c) pushQuoted(0x5c); // glob escape for * ? [ \
    pushQuoted(byte);
  }
  out.push(0x22);
  return Buffer.from(out);
}

function splitNul(buffer: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let end = buffer.indexOf(0); end !== -1; end = buffer.indexOf(0, start)) {
    parts.push(buffer.subarray(start, end));
    start = end + 1;
  }
  if (start < buffer.length) parts.push(buffer.subarray(start));
  return parts;
}
