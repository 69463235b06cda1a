import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, PushError, type BranchCommitPlan, type GuardedRemote } from '../../workers/push/branch-commit.js';
import { gitHttpBackend, makeTestTls, servedRepo, startHttpsServer, type TestHttpsServer } from '../support/git-https-server.js';
import { freePort } from '../support/private-services.js';

// The pusher's git work against a real `git http-backend` over HTTPS on loopback with basic auth for pushes:
// the branch and its content land in the bare repository; a wrong password, a non-fast-forward and a dead
// remote are refused with a named PushError; hostile diffs (the agent writes them) never write a file.

const USER = 'pusher';
const PASSWORD = 'correct horse battery staple';
const IDENTITY = { name: 'Push Bot', email: 'push-bot@example.test' };

let base: string;
let workRoot: string;
let bare: string;
let work: string;
let sourceCommit: string;
let server: TestHttpsServer;
let savedCaInfo: string | undefined;
let remote: GuardedRemote;

const gitEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: tmpdir() };
function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', '-c', 'init.defaultBranch=main', ...args], { cwd, env: gitEnv })
    .toString('utf8')
    .trim();
}

/** The task's diff as the worker stores it: `git diff --binary` of a changed copy of the source. */
async function diffOf(change: (dir: string) => Promise<void>): Promise<string> {
  const copy = await mkdtemp(path.join(base, 'copy-'));
  git(base, 'clone', '-q', work, copy);
  await change(copy);
  git(copy, 'add', '-A');
  return git(copy, 'diff', '--cached', '--binary', 'HEAD') + '\n';
}

function plan(over: Partial<BranchCommitPlan>): BranchCommitPlan {
  return {
    workRoot,
    source: remote,
    sourceCommit,
    diff: '',
    remote,
    credential: { username: USER, password: PASSWORD },
    branch: 'aicli/test',
    parentCommit: null,
    author: IDENTITY,
    committer: { name: 'Committer', email: 'committer@example.test' },
    message: 'Add a file\n\nPrompt:\nadd it\n',
    timeoutMs: 60_000,
    maxBinaryBytes: 1024 * 1024,
    ...over,
  };
}

async function refusal(p: BranchCommitPlan): Promise<PushError> {
  const caught = await commitAndPush(p).then(() => null, (error: unknown) => error);
  if (!(caught instanceof PushError)) throw new Error(`expected a PushError, got ${String(caught)}`);
  return caught;
}

const branchesOf = () => git(bare, 'for-each-ref', '--format=%(refname:short)', 'refs/heads/').split('\n').filter(Boolean).sort();

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'aicli-push-git-'));
  workRoot = path.join(base, 'work-root');
  await mkdir(workRoot, { mode: 0o700 });
  const tls = makeTestTls(base, 'git.aicli.test');
  savedCaInfo = process.env.GIT_SSL_CAINFO;
  process.env.GIT_SSL_CAINFO = tls.certFile;

  const repo = await servedRepo(base, { name: 'origin-work', readme: 'source\n', message: 'first' });
  ({ work, sourceCommit, bare } = repo);
  const projectRoot = repo.projectRoot;
  server = await startHttpsServer(tls, gitHttpBackend(projectRoot, { username: USER, password: PASSWORD }));
  remote = { url: `https://127.0.0.1:${server.port}/repo.git`, transport: 'https', remoteConfigArgs: [] };
});

afterAll(async () => {
  if (savedCaInfo === undefined) delete process.env.GIT_SSL_CAINFO;
  else process.env.GIT_SSL_CAINFO = savedCaInfo;
  await server?.close();
  if (base) await rm(base, { recursive: true, force: true });
});

describe('commitAndPush against a real git server with basic auth', () => {
  it('pushes a new branch whose commit is the diff on the source commit, with the given identities', async () => {
    const diff = await diffOf(async (dir) => {
      await writeFile(path.join(dir, 'hello.txt'), 'hello\n');
      await writeFile(path.join(dir, 'README.md'), 'source, edited\n');
      await writeFile(path.join(dir, 'blob.bin'), Buffer.from([0, 1, 2, 0xff, 0, 10]));
    });
    const { commit } = await commitAndPush(plan({ diff, branch: 'aicli/first' }));
    expect(git(bare, 'rev-parse', 'refs/heads/aicli/first')).toBe(commit);
    expect(git(bare, 'show', 'aicli/first:hello.txt')).toBe('hello');
    expect(git(bare, 'show', 'aicli/first:README.md')).toBe('source, edited');
    expect(execFileSync('git', ['show', 'aicli/first:blob.bin'], { cwd: bare, env: gitEnv })).toEqual(Buffer.from([0, 1, 2, 0xff, 0, 10]));
    expect(git(bare, 'rev-parse', 'aicli/first^')).toBe(sourceCommit);
    expect(git(bare, 'log', '-1', '--format=%an <%ae>|%cn <%ce>|%s', 'aicli/first')).toBe('Push Bot <push-bot@example.test>|Committer <committer@example.test>|Add a file');
    // Nothing is left of the work dir.
    expect(await readdir(workRoot)).toEqual([]);
  });

  it("puts a follow-up's commit on top of its parent's, on the same branch", async () => {
    const first = await commitAndPush(plan({ diff: await diffOf((dir) => writeFile(path.join(dir, 'a.txt'), 'a\n')), branch: 'aicli/chain' }));
    // Diffs are cumulative along a chain: the follow-up's holds the parent's change too.
    const cumulative = await diffOf(async (dir) => {
      await writeFile(path.join(dir, 'a.txt'), 'a\n');
      await writeFile(path.join(dir, 'b.txt'), 'b\n');
    });
    const second = await commitAndPush(plan({ diff: cumulative, branch: 'aicli/chain', parentCommit: first.commit }));
    expect(git(bare, 'rev-parse', 'aicli/chain')).toBe(second.commit);
    expect(git(bare, 'rev-parse', 'aicli/chain^')).toBe(first.commit);
    expect(git(bare, 'diff', '--name-only', first.commit, second.commit)).toBe('b.txt');
  });

  it('refuses a wrong password: auth_failed, no branch', async () => {
    const diff = await diffOf((dir) => writeFile(path.join(dir, 'c.txt'), 'c\n'));
    const error = await refusal(plan({ diff, branch: 'aicli/wrong-pw', credential: { username: USER, password: 'Tr0ub4dor&3' } }));
    expect(error.code).toBe('auth_failed');
    expect(error.message).toMatch(/refused the workspace's git credential/);
    expect(error.message).not.toContain('Tr0ub4dor');
    const none = await refusal(plan({ diff, branch: 'aicli/no-credential', credential: null }));
    expect(none.code).toBe('auth_failed');
    expect(branchesOf()).not.toContain('aicli/wrong-pw');
    expect(branchesOf()).not.toContain('aicli/no-credential');
  });

  it('refuses a non-fast-forward: the branch exists at an unrelated commit and is left as it was', async () => {
    const diff = await diffOf((dir) => writeFile(path.join(dir, 'd.txt'), 'd\n'));
    const taken = await commitAndPush(plan({ diff: await diffOf((dir) => writeFile(path.join(dir, 'other.txt'), 'other\n')), branch: 'aicli/taken' }));
    const error = await refusal(plan({ diff, branch: 'aicli/taken' }));
    expect(error.code).toBe('rejected');
    expect(error.message).toMatch(/refused branch aicli\/taken.*(non-fast-forward|fetch first)/);
    expect(git(bare, 'rev-parse', 'aicli/taken')).toBe(taken.commit);
  });

  it('reports a remote that is down as unreachable, in the same words whatever the cause', async () => {
    const diff = await diffOf((dir) => writeFile(path.join(dir, 'e.txt'), 'e\n'));
    const dead: GuardedRemote = { url: `https://127.0.0.1:${await freePort()}/repo.git`, transport: 'https', remoteConfigArgs: [] };
    const error = await refusal(plan({ diff, remote: dead, branch: 'aicli/dead' }));
    expect(error.code).toBe('unreachable');
    expect(error.message).toBe('branch aicli/dead could not be pushed: the remote could not be reached');
  });

  it('pushes to a file:// remote without a credential', async () => {
    const local: GuardedRemote = { url: `file://${bare}`, transport: 'file', remoteConfigArgs: [] };
    const diff = await diffOf((dir) => writeFile(path.join(dir, 'local.txt'), 'local\n'));
    const { commit } = await commitAndPush(plan({ diff, source: local, remote: local, credential: null, branch: 'aicli/local' }));
    expect(git(bare, 'rev-parse', 'aicli/local')).toBe(commit);
    expect(git(bare, 'show', 'aicli/local:local.txt')).toBe('local');
  });

  it('refuses a diff that changes nothing', async () => {
    const error = await refusal(plan({ diff: '', branch: 'aicli/empty' }));
    expect(error.code).toBe('apply_failed');
  });
});

describe('hostile diffs never write a file and never reach .git', () => {
  const hostile: Array<[string, string]> = [
    ['a path with ..', 'diff --git a/../escape.txt b/../escape.txt\nnew file mode 100644\n--- /dev/null\n+++ b/../escape.txt\n@@ -0,0 +1 @@\n+escaped\n'],
    ['a .git path', 'diff --git a/.git/config b/.git/config\nnew file mode 100644\n--- /dev/null\n+++ b/.git/config\n@@ -0,0 +1,2 @@\n+[core]\n+\tfsmonitor = touch /tmp/pwned\n'],
    ['a .GIT path in a subdir', 'diff --git a/sub/.GIT/hooks/pre-commit b/sub/.GIT/hooks/pre-commit\nnew file mode 100755\n--- /dev/null\n+++ b/sub/.GIT/hooks/pre-commit\n@@ -0,0 +1 @@\n+touch /tmp/pwned\n'],
    [
      'a symlink and a write through it',
      'diff --git a/link b/link\nnew file mode 120000\n--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n+/tmp\n\\ No newline at end of file\n' +
        'diff --git a/link/through.txt b/link/through.txt\nnew file mode 100644\n--- /dev/null\n+++ b/link/through.txt\n@@ -0,0 +1 @@\n+escaped\n',
    ],
  ];

  it.each(hostile)('%s: apply_failed, nothing written, no branch', async (_what, diff) => {
    const branch = `aicli/hostile-${Math.random().toString(36).slice(2, 8)}`;
    const before = await readdir('/tmp');
    const error = await refusal(plan({ diff, branch }));
    expect(error.code).toBe('apply_failed');
    expect(branchesOf()).not.toContain(branch);
    const after = await readdir('/tmp');
    expect(after.filter((name) => !before.includes(name) && /escape|abs|through|pwned/.test(name))).toEqual([]);
  });

  it('a binary patch that would inflate past push.max_binary_bytes is refused before git writes it', async () => {
    const small = await diffOf((dir) => writeFile(path.join(dir, 'zeros.bin'), Buffer.alloc(4096)));
    expect(small).toMatch(/^literal 4096$/m);
    const error = await refusal(plan({ diff: small, branch: 'aicli/bomb', maxBinaryBytes: 4095 }));
    expect(error.code).toBe('apply_failed');
    expect(error.message).toMatch(/binary files of 4096 bytes.*push\.max_binary_bytes/);
    // A declared size that lies is refused by git itself.
    const lying = small.replace(/^literal 4096$/m, 'literal 100');
    expect((await refusal(plan({ diff: lying, branch: 'aicli/lying' }))).code).toBe('apply_failed');
    expect(branchesOf()).not.toContain('aicli/bomb');
    expect(branchesOf()).not.toContain('aicli/lying');
  });

  it('an absolute path is only ever a path inside the tree', async () => {
    const diff = 'diff --git /tmp/abs.txt /tmp/abs.txt\nnew file mode 100644\n--- /dev/null\n+++ /tmp/abs.txt\n@@ -0,0 +1 @@\n+inside\n';
    const before = await readdir('/tmp');
    await commitAndPush(plan({ diff, branch: 'aicli/absolute' }));
    expect(git(bare, 'show', 'aicli/absolute:tmp/abs.txt')).toBe('inside');
    expect((await readdir('/tmp')).filter((name) => !before.includes(name) && name === 'abs.txt')).toEqual([]);
  });

  it('a symlink alone is committed as a symlink, never followed', async () => {
    const diff = 'diff --git a/link b/link\nnew file mode 120000\n--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n+/etc/passwd\n\\ No newline at end of file\n';
    await commitAndPush(plan({ diff, branch: 'aicli/symlink' }));
    expect(git(bare, 'ls-tree', 'aicli/symlink', 'link')).toMatch(/^120000 blob /);
    expect(git(bare, 'show', 'aicli/symlink:link')).toBe('/etc/passwd');
  });
});
