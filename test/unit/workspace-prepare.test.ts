import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workspaceDiff } from '../../workers/workspace/diff.js';
import { GitError, runGit } from '../../workers/workspace/git.js';
import {
  parseScratchDirName,
  prepareWorkspace,
  removeWorkspace,
  scratchDirName,
  WorkspaceError,
  type PrepareWorkspaceOptions,
  type WorkspaceSource,
} from '../../workers/workspace/prepare.js';

let base: string;
let fileRoot: string;
let scratchRoot: string;
let repoDir: string;
let repoUrl: string;
let firstCommit: string;
let mainCommit: string;
let featureCommit: string;
let hostSecret: string;
let attemptCounter = 0;

const gitEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: tmpdir() };

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', '-c', 'init.defaultBranch=main', ...args], { cwd, env: gitEnv })
    .toString('utf8')
    .trim();
}

async function writeFiles(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
}

function commitAll(dir: string, message: string): string {
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

/** Path → kind, executable bit and content hash (or link target), skipping the top-level `.git`. */
async function snapshot(dir: string, prefix = ''): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const entry of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const relative = path.join(prefix, entry.name);
    if (relative === '.git') continue;
    const full = path.join(dir, relative);
    if (entry.isSymbolicLink()) result[relative] = `link:${await readlink(full)}`;
    else if (entry.isDirectory()) Object.assign(result, await snapshot(dir, relative));
    else {
      const stat = await lstat(full);
      const hash = createHash('sha256').update(await readFile(full)).digest('hex');
      result[relative] = `file:${stat.mode & 0o100 ? 'x' : '-'}:${hash}`;
    }
  }
  return result;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [dir];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(full)));
    else out.push(full);
  }
  return out;
}

function options(source: WorkspaceSource, extra: Partial<PrepareWorkspaceOptions> = {}): PrepareWorkspaceOptions {
  attemptCounter += 1;
  return { scratchRoot, taskId: 'task-prepare', attempt: attemptCounter, source, policy: { fileRoot, allowHttps: false }, ...extra };
}

async function exists(file: string): Promise<boolean> {
  return (await lstat(file).catch(() => null)) !== null;
}

beforeAll(async () => {
  expect(process.getuid?.(), 'these tests chown to 1000:1000 and must run as root').toBe(0);
  base = await mkdtemp(path.join(tmpdir(), 'aicli-prepare-'));
  fileRoot = path.join(base, 'sources');
  scratchRoot = path.join(base, 'scratch');
  repoDir = path.join(fileRoot, 'project');
  repoUrl = pathToFileURL(repoDir).href;
  hostSecret = path.join(base, 'host-secret');
  await writeFile(hostSecret, 'root only\n', { mode: 0o600 });

  await mkdir(repoDir, { recursive: true });
  git(repoDir, 'init', '-q');
  await writeFiles(repoDir, { 'README.md': 'first\n' });
  firstCommit = commitAll(repoDir, 'first');
  await writeFiles(repoDir, { 'README.md': '# project\n', 'src/app.ts': 'export const x = 1;\n', 'docs/guide.md': 'guide\n' });
  // A symlink out of the repository: preparing must never chown its target.
  await symlink(hostSecret, path.join(repoDir, 'secret-link'));
  mainCommit = commitAll(repoDir, 'main');
  git(repoDir, 'checkout', '-q', '-b', 'feature');
  await writeFiles(repoDir, { 'feature.txt': 'feature work\n' });
  featureCommit = commitAll(repoDir, 'feature');
  git(repoDir, 'tag', 'v1.0');
  git(repoDir, 'checkout', '-q', 'main');
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('prepareWorkspace', () => {
  it('prepares an empty source as an empty workspace with an empty diff', async () => {
    const ws = await prepareWorkspace(options({ type: 'empty' }));
    expect(await readdir(ws.workspaceDir)).toEqual([]);
    expect(await readdir(ws.claudeConfigDir)).toEqual([]);
    expect(ws.sourceCommit).toBeNull();
    expect(path.relative(ws.workspaceDir, ws.baselineGitDir).startsWith('..')).toBe(true);
    expect(await exists(path.join(ws.baselineGitDir, 'HEAD'))).toBe(true);
    expect(await workspaceDiff(ws)).toEqual({ diff: '', truncated: false, files: [], skipped: [] });
    await removeWorkspace(ws);
  });

  it('hands the workspace and claude dirs to 1000:1000 and keeps root and baseline root-only', async () => {
    const ws = await prepareWorkspace(options({ type: 'git', url: repoUrl }));
    const handedOver = [...(await walk(ws.workspaceDir)), ...(await walk(ws.claudeConfigDir))];
    expect(handedOver.length).toBeGreaterThan(10); // the clone's .git is in there too
    for (const file of handedOver) {
      const stat = await lstat(file);
      expect([stat.uid, stat.gid], file).toEqual([1000, 1000]);
    }
    const rootStat = await lstat(ws.root);
    expect([rootStat.uid, rootStat.mode & 0o777]).toEqual([0, 0o700]);
    expect((await lstat(ws.claudeConfigDir)).mode & 0o777).toBe(0o700);
    for (const file of await walk(ws.baselineGitDir)) expect((await lstat(file)).uid, file).toBe(0);
    // lchown, not chown: the symlink is the sandbox user's, its target on the host is untouched.
    expect((await lstat(path.join(ws.workspaceDir, 'secret-link'))).uid).toBe(1000);
    expect((await lstat(hostSecret)).uid).toBe(0);
    await removeWorkspace(ws);
  });

  it('clones the default branch at its head and keeps the clone usable as a repository', async () => {
    const ws = await prepareWorkspace(options({ type: 'git', url: repoUrl }));
    expect(ws.sourceCommit).toBe(mainCommit);
    expect(await readFile(path.join(ws.workspaceDir, 'README.md'), 'utf8')).toBe('# project\n');
    expect(await exists(path.join(ws.workspaceDir, 'feature.txt'))).toBe(false);
    // The clone now belongs to the sandbox user, so root's git refuses it unless told it is safe.
    expect(git(ws.workspaceDir, '-c', `safe.directory=${ws.workspaceDir}`, 'rev-parse', 'HEAD')).toBe(mainCommit);
    expect(git(ws.workspaceDir, '-c', `safe.directory=${ws.workspaceDir}`, 'status', '--porcelain')).toBe('');
    expect(await workspaceDiff(ws)).toMatchObject({ diff: '', files: [] });
    await removeWorkspace(ws);
  });

  it('clones a branch, a tag and a commit given as ref', async () => {
    const branch = await prepareWorkspace(options({ type: 'git', url: repoUrl, ref: 'feature' }));
    expect(branch.sourceCommit).toBe(featureCommit);
    expect(await readFile(path.join(branch.workspaceDir, 'feature.txt'), 'utf8')).toBe('feature work\n');

    const tag = await prepareWorkspace(options({ type: 'git', url: repoUrl, ref: 'v1.0' }));
    expect(tag.sourceCommit).toBe(featureCommit);

    const commit = await prepareWorkspace(options({ type: 'git', url: repoUrl, ref: firstCommit }));
    expect(commit.sourceCommit).toBe(firstCommit);
    expect(await snapshot(commit.workspaceDir)).toEqual({ 'README.md': expect.stringMatching(/^file:-:/) });
    expect(await readFile(path.join(commit.workspaceDir, 'README.md'), 'utf8')).toBe('first\n');
    for (const ws of [branch, tag, commit]) await removeWorkspace(ws);
  });

  it('maps a failed clone to one line and leaves no scratch dir behind', async () => {
    const opts = options({ type: 'git', url: repoUrl, ref: 'no-such-branch' });
    const error = await prepareWorkspace(opts).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WorkspaceError);
    expect((error as WorkspaceError).code).toBe('git_failed');
    expect((error as WorkspaceError).message).toMatch(/^git clone failed: fatal: Remote branch no-such-branch not found/);
    expect((error as WorkspaceError).message).not.toContain('\n');
    expect((error as WorkspaceError).cause).toBeInstanceOf(GitError);
    expect(await exists(path.join(scratchRoot, scratchDirName(opts.taskId, opts.attempt)))).toBe(false);
  });

  it('refuses a file:// source outside the root before creating anything or running git', async () => {
    const outsideRepo = path.join(base, 'outside-repo');
    await mkdir(outsideRepo);
    git(outsideRepo, 'init', '-q');
    await writeFiles(outsideRepo, { 'x.txt': 'x\n' });
    commitAll(outsideRepo, 'x');
    const untouchedScratch = path.join(base, 'never-created');
    const attempt = (url: string): Promise<unknown> =>
      prepareWorkspace({ ...options({ type: 'git', url }), scratchRoot: untouchedScratch }).catch((caught: unknown) => caught);

    await symlink(outsideRepo, path.join(fileRoot, 'sneaky'));
    for (const url of [
      pathToFileURL(outsideRepo).href, // a valid repository: had git run, the clone would have worked
      `${repoUrl}/../../outside-repo`,
      pathToFileURL(path.join(fileRoot, 'sneaky')).href,
      'ssh://git@127.0.0.1/repo.git',
      'http://127.0.0.1/repo.git',
      'https://127.0.0.1/repo.git', // allowHttps is false here
      'ext::sh -c touch% /tmp/aicli-pwned',
      outsideRepo,
    ]) {
      const error = await attempt(url);
      expect(error, url).toBeInstanceOf(WorkspaceError);
      expect((error as WorkspaceError).code, url).toBe('source_refused');
    }
    expect(await exists(untouchedScratch)).toBe(false);
  });

  it('replaces a stale leftover of the same attempt', async () => {
    const opts = options({ type: 'empty' });
    const stale = path.join(scratchRoot, scratchDirName(opts.taskId, opts.attempt));
    await writeFiles(stale, { 'workspace/leftover.txt': 'old\n' });
    const ws = await prepareWorkspace(opts);
    expect(ws.root).toBe(stale);
    expect(await readdir(ws.workspaceDir)).toEqual([]);
    await removeWorkspace(ws);
  });

  it('stops at the deadline or on abort', async () => {
    const aborted = await prepareWorkspace(options({ type: 'git', url: repoUrl }, { signal: AbortSignal.abort() })).catch((caught: unknown) => caught);
    expect((aborted as WorkspaceError).code).toBe('aborted');
    const late = await prepareWorkspace(options({ type: 'git', url: repoUrl }, { timeoutMs: 1 })).catch((caught: unknown) => caught);
    expect((late as WorkspaceError).code).toBe('timeout');
  });
});

describe('follow-up tasks: prepareWorkspace(patch)', () => {
  it('reproduces every kind of change from an earlier workspaceDiff, and diffs stay cumulative', async () => {
    const first = await prepareWorkspace(options({ type: 'git', url: repoUrl }));
    const w = first.workspaceDir;
    await writeFiles(w, {
      'README.md': '# project\n\nchanged by the agent\n',
      'new/hello.txt': 'hello\n',
      'image.bin': Buffer.from([0, 1, 2, 255, 254, 0, 10, 13, 0]),
      'latin1.txt': Buffer.from('caf\xe9 cr\xe8me\n', 'latin1'),
      'crlf.txt': 'one\r\ntwo\r\n',
      '.gitattributes': '* text=auto\n',
    });
    await unlink(path.join(w, 'docs/guide.md'));
    await rename(path.join(w, 'src/app.ts'), path.join(w, 'src/main.ts'));
    await writeFiles(w, { 'run.sh': '#!/bin/sh\necho hi\n' });
    await chmod(path.join(w, 'run.sh'), 0o755);
    await symlink('new/hello.txt', path.join(w, 'hello-link'));

    const firstDiff = await workspaceDiff(first);
    expect(firstDiff.truncated).toBe(false);

    const second = await prepareWorkspace(options({ type: 'git', url: repoUrl }, { patch: firstDiff.diff }));
    expect(await snapshot(second.workspaceDir)).toEqual(await snapshot(first.workspaceDir));
    expect(await readFile(path.join(second.workspaceDir, 'crlf.txt'), 'utf8')).toBe('one\r\ntwo\r\n');
    expect((await lstat(path.join(second.workspaceDir, 'new/hello.txt'))).uid).toBe(1000);

    // The follow-up's baseline is the source, so its diff carries the replayed changes too.
    const secondDiff = await workspaceDiff(second);
    expect(secondDiff.diff).toBe(firstDiff.diff);
    expect(secondDiff.files).toEqual(firstDiff.files);
    for (const ws of [first, second]) await removeWorkspace(ws);
  });

  it('replays a patch onto an empty source', async () => {
    const first = await prepareWorkspace(options({ type: 'empty' }));
    await writeFiles(first.workspaceDir, { 'a/b/c.txt': 'deep\n', 'top.bin': Buffer.from([0, 0, 7]) });
    const { diff } = await workspaceDiff(first);
    const second = await prepareWorkspace(options({ type: 'empty' }, { patch: diff }));
    expect(await snapshot(second.workspaceDir)).toEqual(await snapshot(first.workspaceDir));
    for (const ws of [first, second]) await removeWorkspace(ws);
  });

  it('fails with patch_failed when the patch does not apply, and cleans up', async () => {
    const patch = 'diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-not what is there\n+x\n';
    const opts = options({ type: 'git', url: repoUrl }, { patch });
    const error = await prepareWorkspace(opts).catch((caught: unknown) => caught);
    expect((error as WorkspaceError).code).toBe('patch_failed');
    expect((error as WorkspaceError).message).toMatch(/^patch does not apply: error: patch failed: README.md:1$/);
    expect(await exists(path.join(scratchRoot, scratchDirName(opts.taskId, opts.attempt)))).toBe(false);
  });

  it('refuses a patch that writes outside the workspace', async () => {
    const patch = 'diff --git a/../escape.txt b/../escape.txt\nnew file mode 100644\n--- /dev/null\n+++ b/../escape.txt\n@@ -0,0 +1 @@\n+x\n';
    const opts = options({ type: 'empty' }, { patch });
    const error = await prepareWorkspace(opts).catch((caught: unknown) => caught);
    expect((error as WorkspaceError).code).toBe('patch_failed');
    expect(await exists(path.join(scratchRoot, 'escape.txt'))).toBe(false);
  });
});

describe('scratch dirs', () => {
  it('names a dir <taskId>-<attempt> and parses it back', () => {
    const taskId = '0f8fad5b-d9cb-469f-a165-70867728950e';
    expect(scratchDirName(taskId, 3)).toBe(`${taskId}-3`);
    expect(parseScratchDirName(`${taskId}-3`)).toEqual({ taskId, attempt: 3 });
    expect(parseScratchDirName('not a scratch dir')).toBeNull();
    expect(parseScratchDirName('task')).toBeNull();
    expect(() => scratchDirName('../etc', 1)).toThrow(WorkspaceError);
    expect(() => scratchDirName('a/b', 1)).toThrow(WorkspaceError);
    expect(() => scratchDirName('task', -1)).toThrow(WorkspaceError);
  });

  it('removeWorkspace is idempotent and refuses what is not a scratch dir', async () => {
    const ws = await prepareWorkspace(options({ type: 'git', url: repoUrl }));
    await removeWorkspace(ws);
    expect(await exists(ws.root)).toBe(false);
    await removeWorkspace(ws);
    await removeWorkspace(ws.root);
    await expect(removeWorkspace(base)).rejects.toThrow(/not a scratch dir/);
    expect(await exists(base)).toBe(true);
  });
});

describe('runGit', () => {
  it('kills git and its children at the deadline', async () => {
    const pidFile = path.join(base, 'sleeper.pid');
    const error = await runGit(['-c', `alias.hang=!echo $$ > ${pidFile}; exec sleep 30`, 'hang'], { cwd: base, home: base, timeoutMs: 500 }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(GitError);
    expect((error as GitError).reason).toBe('timeout');
    const pid = Number(await readFile(pidFile, 'utf8'));
    // Killed means gone or a zombie (PID 1 here may be slow to reap orphans).
    await expect.poll(async () => {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
      return stat === null || /^\d+ \(.*\) Z /.test(stat) ? 'dead' : 'running';
    }).toBe('dead');
  });

  it('ignores the host environment and config of git', async () => {
    const saved = { ...process.env };
    process.env.GIT_DIR = path.join(base, 'nowhere');
    process.env.GIT_CONFIG_PARAMETERS = "'core.hooksPath'='/tmp'";
    try {
      const { stdout } = await runGit(['config', '--list', '--show-origin'], { cwd: base, home: base });
      expect(stdout.toString('utf8')).toContain('command line:\tcore.hookspath=/dev/null');
      expect(stdout.toString('utf8')).not.toMatch(/file:/);
      expect(stdout.toString('utf8')).not.toContain('core.hookspath=/tmp');
    } finally {
      process.env = saved;
    }
  });
});
