import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../src/api/errors.js';
import { checkPushTarget } from '../../src/api/routes/workspace-push.js';
import { workspacePush } from '../../src/api/routes/workspace-schemas.js';
import { configSchema } from '../../src/config/schema.js';
import { compareUrl, isSafeBranchPrefix, pushCommitMessage, taskBranchName } from '../../src/domain/branch-push.js';

// What a workspace's push target may be (checked like a git source: https through the address guard's
// rules, file:// only under the configured root), and the names, pages and messages a push is made of.

let root: string;
let outside: string;
const gitSource = { type: 'git' as const, url: 'https://github.com/example/repo.git' };
const config = () =>
  configSchema.parse({ sandbox: { git_file_root: path.join(root, 'repos'), allow_https_git: true }, push: { author_name: 'Default Bot', author_email: 'bot@example.test' } });
const target = (given: object) => checkPushTarget(workspacePush.parse(given), gitSource, config());
const refusal = (given: object, source: { type: 'empty' } | typeof gitSource = gitSource): string => {
  try {
    checkPushTarget(workspacePush.parse(given), source, config());
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) return error.message;
    throw error;
  }
  throw new Error(`expected a 422 for ${JSON.stringify(given)}`);
};

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'aicli-push-policy-'));
  outside = path.join(root, 'outside.git');
  await mkdir(path.join(root, 'repos', 'mine.git'), { recursive: true });
  await mkdir(outside);
  await symlink(outside, path.join(root, 'repos', 'sneaky.git'));
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('push target policy', () => {
  it('defaults: the source, prefix aicli/, no default push, the configured identity for author and committer', () => {
    expect(target({})).toEqual({
      remote: 'source',
      branch_prefix: 'aicli/',
      default: false,
      author: { name: 'Default Bot', email: 'bot@example.test' },
      committer: { name: 'Default Bot', email: 'bot@example.test' },
    });
    expect(target({ author: { name: 'A', email: 'a@x.test' } })?.committer, 'the committer follows the author').toEqual({ name: 'A', email: 'a@x.test' });
  });

  it('accepts a public https remote and a file:// remote under the configured root', () => {
    expect(target({ remote: 'https://gitlab.com/group/fork.git' })?.remote).toBe('https://gitlab.com/group/fork.git');
    const local = `file://${path.join(root, 'repos', 'mine.git')}`;
    expect(target({ remote: local })?.remote).toBe(local);
  });

  it.each([
    ['https://169.254.169.254/repo.git', /cloud metadata address/],
    ['https://127.0.0.1/repo.git', /loopback address/],
    ['https://10.0.0.7/repo.git', /private/],
    ['https://user:secret@github.com/example/repo.git', /must not embed credentials/],
    ['http://github.com/example/repo.git', /scheme http is not allowed/],
    ['ssh://git@github.com/example/repo.git', /scheme ssh is not allowed/],
    ['ext::sh -c touch% /tmp/pwned', /absolute https:\/\/ or file:\/\/ URL|whitespace/],
  ])('refuses the remote %s', (remote, why) => {
    expect(refusal({ remote })).toMatch(why);
  });

  it('refuses a file:// remote outside the root, also through a symlink or ..', () => {
    expect(refusal({ remote: `file://${outside}` })).toMatch(/outside the allowed source directory/);
    expect(refusal({ remote: `file://${path.join(root, 'repos', 'sneaky.git')}` })).toMatch(/outside the allowed source directory/);
    expect(refusal({ remote: `file://${path.join(root, 'repos', '..', 'outside.git')}` })).toMatch(/outside the allowed source directory/);
  });

  it('refuses prefixes and identities git would misread', () => {
    for (const prefix of ['-f', 'a..b/', 'with space/', 'refs/heads/', 'x~', 'a:b', 'ends.lock/']) {
      expect(refusal({ branch_prefix: prefix }), prefix).toMatch(/branch_prefix/);
    }
    expect(refusal({ author: { name: 'Eve <root@x>', email: 'e@x.test' } })).toMatch(/push.author/);
    expect(refusal({ committer: { name: 'Eve', email: 'e@x.test\nSigned-off-by: someone' } })).toMatch(/push.committer/);
  });

  it('needs a git source', () => {
    expect(refusal({}, { type: 'empty' })).toMatch(/needs a workspace with a git source/);
  });
});

describe('branch names, compare pages and messages', () => {
  it('names a task branch <prefix><8 hex digits of the task id>', () => {
    expect(taskBranchName('aicli/', '0f3a9c1e-2b4d-4e5f-8a6b-7c8d9e0f1a2b')).toBe('aicli/0f3a9c1e');
    expect(isSafeBranchPrefix('team/bot-')).toBe(true);
    expect(isSafeBranchPrefix('')).toBe(true);
  });

  it('templates compare pages for GitHub and GitLab only', () => {
    expect(compareUrl('https://github.com/acme/app.git', 'main', 'aicli/0f3a9c1e')).toBe('https://github.com/acme/app/compare/main...aicli/0f3a9c1e');
    expect(compareUrl('https://gitlab.com/group/sub/app.git', 'release/1.0', 'aicli/x')).toBe('https://gitlab.com/group/sub/app/-/compare/release/1.0...aicli/x');
    expect(compareUrl('https://gitlab.example.org:8443/g/app', 'main', 'b')).toBe('https://gitlab.example.org:8443/g/app/-/compare/main...b');
    expect(compareUrl('https://git.example.org/g/app.git', 'main', 'b')).toBeNull();
    expect(compareUrl('file:///srv/git/app.git', 'main', 'b')).toBeNull();
  });

  it('makes the message from the prompt and the result, bounded and without NUL', () => {
    const message = pushCommitMessage(`\n  ${'Fix the parser '.repeat(10)}\nmore detail`, 'Done.\0 All tests pass.', 'task-1');
    const [subject] = message.split('\n');
    expect(subject?.length).toBeLessThanOrEqual(72);
    expect(subject).toMatch(/^Fix the parser .*…$/);
    expect(message).toContain('Result:\nDone. All tests pass.');
    expect(message).toContain('AICode-Task: task-1');
    expect(message).not.toContain('\0');
    expect(pushCommitMessage('x'.repeat(50_000), null, 't').length).toBeLessThan(5000);
  });
});
