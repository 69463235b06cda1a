import { execFileSync } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workspaceDiff } from '../../workers/workspace/diff.js';
import { prepareWorkspace, removeWorkspace, type WorkspaceSource } from '../../workers/workspace/prepare.js';
import type { PreparedWorkspace } from '../../workers/workspace/prepared-workspace.js';

let base: string;
let fileRoot: string;
let scratchRoot: string;
let repoUrl: string;
let attemptCounter = 0;
const prepared: PreparedWorkspace[] = [];

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

async function prepare(source: WorkspaceSource, patch?: string): Promise<PreparedWorkspace> {
  attemptCounter += 1;
  const ws = await prepareWorkspace({
    scratchRoot,
    taskId: 'task-diff',
    attempt: attemptCounter,
    source,
    policy: { fileRoot, allowHttps: false },
    ...(patch === undefined ? {} : { patch }),
  });
  prepared.push(ws);
  return ws;
}

async function exists(file: string): Promise<boolean> {
  return (await lstat(file).catch(() => null)) !== null;
}

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'aicli-diff-'));
  fileRoot = path.join(base, 'sources');
  scratchRoot = path.join(base, 'scratch');
  const repoDir = path.join(fileRoot, 'project');
  repoUrl = pathToFileURL(repoDir).href;
  await mkdir(repoDir, { recursive: true });
  git(repoDir, 'init', '-q');
  await writeFiles(repoDir, {
    'README.md': 'hello\n',
    'src/keep.ts': 'export const keep = true;\n',
    'src/old-name.ts': 'export const moved = "a file long enough to be detected as a rename";\n',
    'notes.txt': 'delete me\n',
    'logo.bin': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 13, 0xff]),
    '.gitignore': 'build/\n*.log\n',
  });
  git(repoDir, 'add', '-A');
  git(repoDir, 'commit', '-q', '-m', 'initial');
});

afterAll(async () => {
  for (const ws of prepared) await removeWorkspace(ws);
  await rm(base, { recursive: true, force: true });
});

describe('workspaceDiff', () => {
  it('shows a new file in an empty workspace as added', async () => {
    const ws = await prepare({ type: 'empty' });
    await writeFile(path.join(ws.workspaceDir, 'hello.txt'), 'hello world\n');
    const result = await workspaceDiff(ws);
    expect(result.files).toEqual([{ path: 'hello.txt', status: 'added' }]);
    expect(result.diff).toContain('diff --git a/hello.txt b/hello.txt\nnew file mode 100644\n');
    expect(result.diff).toContain('+hello world\n');
    expect(result.truncated).toBe(false);
  });

  it('reports modifications, deletions, renames, mode changes and symlinks in a cloned repo', async () => {
    const ws = await prepare({ type: 'git', url: repoUrl });
    const w = ws.workspaceDir;
    await writeFile(path.join(w, 'README.md'), 'hello\nagain\n');
    await unlink(path.join(w, 'notes.txt'));
    await rename(path.join(w, 'src/old-name.ts'), path.join(w, 'src/new-name.ts'));
    await chmod(path.join(w, 'src/keep.ts'), 0o755);
    await symlink('README.md', path.join(w, 'readme-link'));

    const result = await workspaceDiff(ws);
    expect(result.files).toEqual([
      { path: 'README.md', status: 'modified' },
      { path: 'notes.txt', status: 'deleted' },
      { path: 'readme-link', status: 'added' },
      { path: 'src/keep.ts', status: 'modified' },
      { path: 'src/new-name.ts', status: 'renamed', previousPath: 'src/old-name.ts' },
    ]);
    expect(result.diff).toContain('+again\n');
    expect(result.diff).toContain('deleted file mode 100644');
    expect(result.diff).toContain('rename from src/old-name.ts\nrename to src/new-name.ts');
    expect(result.diff).toContain('old mode 100644\nnew mode 100755');
    expect(result.diff).toContain('new file mode 120000');
    expect(result.skipped).toEqual([]);
  });

  it('carries binary files as binary patches', async () => {
    const ws = await prepare({ type: 'git', url: repoUrl });
    const bytes = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 7) % 256));
    await writeFile(path.join(ws.workspaceDir, 'data.bin'), bytes);
    await writeFile(path.join(ws.workspaceDir, 'logo.bin'), Buffer.from([0, 1, 2, 3]));
    const result = await workspaceDiff(ws);
    expect(result.files).toEqual([
      { path: 'data.bin', status: 'added' },
      { path: 'logo.bin', status: 'modified' },
    ]);
    expect(result.diff.match(/GIT binary patch/g)).toHaveLength(2);

    const replay = await prepare({ type: 'git', url: repoUrl }, result.diff);
    expect(await readFile(path.join(replay.workspaceDir, 'data.bin'))).toEqual(bytes);
    expect(await readFile(path.join(replay.workspaceDir, 'logo.bin'))).toEqual(Buffer.from([0, 1, 2, 3]));
  });

  it('sends text that is not UTF-8, or has a NUL past git\'s binary sniffing, as binary so bytes survive', async () => {
    const ws = await prepare({ type: 'git', url: repoUrl });
    const latin1 = Buffer.from('na\xefve caf\xe9\n', 'latin1');
    const lateNul = Buffer.concat([Buffer.from('x'.repeat(9000) + '\n'), Buffer.from([0]), Buffer.from('\n')]);
    await writeFiles(ws.workspaceDir, { 'latin1.txt': latin1, 'late-nul.txt': lateNul, 'plain.txt': 'plain\n', 'weird [name]*?.txt': Buffer.from('\xff\n', 'latin1') });
    const result = await workspaceDiff(ws);
    expect(result.diff).not.toContain('\u0000');
    expect(result.diff).not.toContain('\ufffd');
    expect(result.diff).toContain('+plain\n'); // clean text stays readable
    expect(result.diff.match(/GIT binary patch/g)).toHaveLength(3);

    const replay = await prepare({ type: 'git', url: repoUrl }, result.diff);
    expect(await readFile(path.join(replay.workspaceDir, 'latin1.txt'))).toEqual(latin1);
    expect(await readFile(path.join(replay.workspaceDir, 'late-nul.txt'))).toEqual(lateNul);
    expect(await readFile(path.join(replay.workspaceDir, 'weird [name]*?.txt'))).toEqual(Buffer.from('\xff\n', 'latin1'));
  });

  it('keeps exact bytes even when the workspace .gitattributes asks for eol conversion or filters', async () => {
    const ws = await prepare({ type: 'empty' });
    await writeFiles(ws.workspaceDir, { '.gitattributes': '* text=auto eol=lf ident\n', 'win.txt': 'a\r\nb\r\n', 'id.txt': '$Id: abc $\n' });
    const result = await workspaceDiff(ws);
    const replay = await prepare({ type: 'empty' }, result.diff);
    expect(await readFile(path.join(replay.workspaceDir, 'win.txt'), 'utf8')).toBe('a\r\nb\r\n');
    expect(await readFile(path.join(replay.workspaceDir, 'id.txt'), 'utf8')).toBe('$Id: abc $\n');
  });

  it('respects the workspace .gitignore', async () => {
    const ws = await prepare({ type: 'git', url: repoUrl });
    await writeFiles(ws.workspaceDir, { 'build/out.js': 'compiled\n', 'debug.log': 'noise\n', 'src/real.ts': 'real\n' });
    const result = await workspaceDiff(ws);
    expect(result.files).toEqual([{ path: 'src/real.ts', status: 'added' }]);
    expect(result.diff).not.toContain('build/out.js');
  });

  it('ignores the cloned .git, even when the agent commits in it', async () => {
    const ws = await prepare({ type: 'git', url: repoUrl });
    const w = ws.workspaceDir;
    await writeFile(path.join(w, 'README.md'), 'committed by the agent\n');
    git(w, '-c', `safe.directory=${w}`, 'commit', '-q', '-am', 'agent commit');
    const result = await workspaceDiff(ws);
    expect(result.files).toEqual([{ path: 'README.md', status: 'modified' }]);
    expect(result.diff).not.toContain('.git/');
    expect(result.diff).not.toContain('Subproject commit');
    expect(result.diff).not.toMatch(/^new file mode 160000/m);
  });

  it('leaves nested repositories out instead of recording gitlinks, and says so', async () => {
    const ws = await prepare({ type: 'git', url: repoUrl });
    const w = ws.workspaceDir;
    await mkdir(path.join(w, 'vendor/lib'), { recursive: true });
    git(path.join(w, 'vendor/lib'), 'init', '-q');
    await writeFile(path.join(w, 'vendor/lib/index.js'), 'module.exports = 1;\n');
    git(path.join(w, 'vendor/lib'), 'add', '-A');
    git(path.join(w, 'vendor/lib'), 'commit', '-q', '-m', 'lib');
    await mkdir(path.join(w, 'scratch-repo'));
    git(path.join(w, 'scratch-repo'), 'init', '-q'); // no commit: a plain `git add -A` would abort on it
    await writeFile(path.join(w, 'vendor/notes.md'), 'kept\n');

    const result = await workspaceDiff(ws);
    expect(result.files).toEqual([{ path: 'vendor/notes.md', status: 'added' }]);
    expect(result.skipped).toEqual([
      { path: 'scratch-repo', reason: 'nested_repository' },
      { path: 'vendor/lib', reason: 'nested_repository' },
    ]);
    expect(result.diff).not.toContain('Subproject commit');
    expect(result.diff).not.toContain('160000');
  });

  it('skips names git refuses and still records the rest', async () => {
    const ws = await prepare({ type: 'empty' });
    await writeFiles(ws.workspaceDir, { '.GIT/config': 'x\n', 'ok.txt': 'ok\n' });
    const result = await workspaceDiff(ws);
    expect(result.files).toEqual([{ path: 'ok.txt', status: 'added' }]);
    expect(result.skipped).toEqual([{ path: '.GIT/config', reason: 'invalid_path' }]);
  });

  it('never runs configuration the agent planted in the workspace repository', async () => {
    const ws = await prepare({ type: 'git', url: repoUrl });
    const w = ws.workspaceDir;
    const marker = path.join(base, 'pwned');
    await writeFile(
      path.join(w, '.git/config'),
      `[core]\n\tfsmonitor = "touch ${marker}"\n\thooksPath = .githooks\n[filter "evil"]\n\tclean = "touch ${marker}"\n[diff "evil"]\n\ttextconv = "touch ${marker}"\n`,
    );
    await writeFiles(w, { '.gitattributes': '* filter=evil diff=evil\n', 'README.md': 'changed\n', '.githooks/pre-commit': `#!/bin/sh\ntouch ${marker}\n` });
    await chmod(path.join(w, '.githooks/pre-commit'), 0o755);
    const result = await workspaceDiff(ws);
    expect(result.files.map((file) => file.path)).toEqual(['.gitattributes', '.githooks/pre-commit', 'README.md']);
    expect(await exists(marker)).toBe(false);
  });

  it('truncates at maxBytes on a line boundary', async () => {
    const ws = await prepare({ type: 'empty' });
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'é'.repeat(10)}`).join('\n');
    await writeFile(path.join(ws.workspaceDir, 'big.txt'), lines);
    await writeFile(path.join(ws.workspaceDir, 'small.txt'), 'small\n');
    const result = await workspaceDiff(ws, { maxBytes: 10_000 });
    expect(result.truncated).toBe(true);
    expect(Buffer.byteLength(result.diff)).toBeLessThanOrEqual(10_000);
    expect(Buffer.byteLength(result.diff)).toBeGreaterThan(9_000);
    expect(result.diff.endsWith('\n')).toBe(true);
    expect(result.files).toEqual([
      { path: 'big.txt', status: 'added' },
      { path: 'small.txt', status: 'added' },
    ]);
    const full = await workspaceDiff(ws);
    expect(full.truncated).toBe(false);
    expect(full.diff.startsWith(result.diff)).toBe(true);
  });
});

// What the agent leaves in its workspace is read on the host by git, as root: links to host files, FIFOs,
// sockets, and a patch (replayed into a follow-up) that tries to write through a link it creates.
describe('host safety of the diff and the patch replay', () => {
  it('records a link to a host file as a link and never reads its target; FIFOs and sockets do not hang it', async () => {
    const hostDir = await mkdtemp(path.join(base, 'host-'));
    const secret = path.join(hostDir, 'secret.txt');
    await writeFile(secret, 'HOST-SECRET-diff\n');
    const ws = await prepare({ type: 'empty' });
    const w = ws.workspaceDir;
    await symlink(secret, path.join(w, 'secret-link'));
    await symlink(hostDir, path.join(w, 'dir-link'));
    execFileSync('mkfifo', [path.join(w, 'pipe')]);
    execFileSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path.join(w, 'sock'))})`]);
    await writeFile(path.join(w, 'plain.txt'), 'plain\n');
    const result = await workspaceDiff(ws);
    expect(result.diff).not.toContain('HOST-SECRET');
    expect(result.diff).toContain(`new file mode 120000`);
    expect(result.diff).toContain(`+${secret}`);
    expect(result.files.map((file) => file.path).sort()).toEqual(['dir-link', 'plain.txt', 'secret-link']);
  });

  it('a replayed patch cannot write through a symlink it creates', async () => {
    const hostDir = await mkdtemp(path.join(base, 'host-'));
    // A link to a host dir, then a file "inside" it: the shape of CVE-2023-23946.
    const patch = [
      'diff --git a/escape b/escape',
      'new file mode 120000',
      'index 0000000..1111111',
      '--- /dev/null',
      '+++ b/escape',
      '@@ -0,0 +1 @@',
      `+${hostDir}`,
      '\\ No newline at end of file',
      'diff --git a/escape/pwned b/escape/pwned',
      'new file mode 100644',
      'index 0000000..2222222',
      '--- /dev/null',
      '+++ b/escape/pwned',
      '@@ -0,0 +1 @@',
      '+written outside the workspace',
      '',
    ].join('\n');
    await expect(prepare({ type: 'empty' }, patch)).rejects.toThrow(/patch does not apply/);
    expect(await exists(path.join(hostDir, 'pwned'))).toBe(false);
  });
});
