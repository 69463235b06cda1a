import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { gitSourcePolicy, isCommitSha, isSafeRefName, type GitSourcePolicy } from '../../src/domain/git-source-policy.js';
import { checkGitSource, resolveGitSource } from '../../src/workspaces/git-source.js';

let base: string;
let fileRoot: string;
let outside: string;
let policy: GitSourcePolicy;

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'aicli-source-policy-'));
  fileRoot = path.join(base, 'sources');
  outside = path.join(base, 'outside');
  await mkdir(path.join(fileRoot, 'repo'), { recursive: true });
  await mkdir(path.join(outside, 'secret'), { recursive: true });
  await symlink(outside, path.join(fileRoot, 'escape'));
  await symlink(path.join(fileRoot, 'repo'), path.join(fileRoot, 'alias'));
  await mkdir(path.join(fileRoot, 'with space'));
  policy = { fileRoot, allowHttps: true };
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

function refusal(url: string, custom: Partial<GitSourcePolicy> = {}, ref?: string): string {
  const result = checkGitSource(ref === undefined ? { url } : { url, ref }, { ...policy, ...custom });
  if (result.ok) throw new Error(`expected ${url} to be refused`);
  return result.message;
}

describe('checkGitSource: https', () => {
  it('allows https when enabled and hands git the normalised URL', () => {
    expect(checkGitSource({ url: 'https://example.com/org/repo.git' }, policy)).toEqual({ ok: true });
    expect(resolveGitSource({ url: 'HTTPS://Example.COM/org/repo.git' }, policy)).toEqual({ ok: true, url: 'https://example.com/org/repo.git' });
  });

  it('refuses https when disabled', () => {
    expect(refusal('https://example.com/org/repo.git', { allowHttps: false })).toMatch(/https:\/\/ sources are disabled/);
  });

  it('refuses credentials, queries and fragments in the URL', () => {
    expect(refusal('https://user:token@example.com/repo.git')).toMatch(/credentials/);
    expect(refusal('https://user@example.com/repo.git')).toMatch(/credentials/);
    expect(refusal('https://example.com/repo.git?x=1')).toMatch(/query or fragment/);
    expect(refusal('https://example.com/repo.git#main')).toMatch(/query or fragment/);
  });

  it('refuses every other transport and form', () => {
    for (const url of [
      'http://example.com/repo.git',
      'ssh://git@example.com/repo.git',
      'git://example.com/repo.git',
      'ext::sh -c touch% /tmp/pwned',
      'ext::sh',
      'fd::17',
      'git@example.com:org/repo.git',
      'example.com:org/repo.git',
      '/srv/repos/repo',
      './repo',
      '--upload-pack=touch /tmp/pwned',
      'https://example.com\\@other.example/repo.git',
      'https://example.com/re po.git',
      'https://example.com/repo.git\n',
      '',
    ]) {
      expect(checkGitSource({ url }, policy).ok, url).toBe(false);
    }
  });
});

describe('checkGitSource: https hosts (no DNS here: literal addresses and host lists only)', () => {
  it.each([
    ['https://169.254.169.254/x.git', /169\.254\.169\.254 is a cloud metadata address/],
    ['https://127.0.0.1/', /127\.0\.0\.1 is a loopback address/],
    ['https://[::1]/', /::1 is a loopback address/],
    ['https://0x7f000001/', /127\.0\.0\.1 is a loopback address/],
    ['https://2130706433/', /127\.0\.0\.1 is a loopback address/],
    ['https://0177.0.0.1/repo.git', /127\.0\.0\.1 is a loopback address/],
    ['https://127.1/repo.git', /127\.0\.0\.1 is a loopback address/],
    ['https://[::ffff:127.0.0.1]/repo.git', /embeds 127\.0\.0\.1/],
    ['https://[0:0:0:0:0:ffff:a9fe:a9fe]/latest', /embeds 169\.254\.169\.254/],
    ['https://10.0.0.7/repo.git', /10\.0\.0\.7 is a private/],
    ['https://[fd00:ec2::254]/repo.git', /cloud metadata/],
    ['https://0.0.0.0:8080/repo.git', /unspecified/],
  ])('refuses %s up front', (url, why) => {
    expect(refusal(url)).toMatch(why);
  });

  it('lets an operator allow a private host, but never link-local or metadata', () => {
    const allowPrivateForHosts = ['127.0.0.1', 'mirror.internal', '169.254.169.254'];
    expect(checkGitSource({ url: 'https://127.0.0.1:8443/repo.git' }, { ...policy, allowPrivateForHosts })).toEqual({ ok: true });
    expect(refusal('https://169.254.169.254/x.git', { allowPrivateForHosts })).toMatch(/metadata/);
    expect(refusal('https://10.0.0.7/repo.git', { allowPrivateForHosts })).toMatch(/private/);
  });

  it('keeps to sandbox.git_allowed_hosts when it is set', () => {
    const allowedHosts = ['github.com', '*.example.org'];
    expect(checkGitSource({ url: 'https://github.com/org/repo.git' }, { ...policy, allowedHosts })).toEqual({ ok: true });
    expect(checkGitSource({ url: 'https://git.Example.org/org/repo.git' }, { ...policy, allowedHosts })).toEqual({ ok: true });
    expect(refusal('https://gitlab.com/org/repo.git', { allowedHosts })).toMatch(/gitlab\.com is not in sandbox\.git_allowed_hosts/);
    expect(refusal('https://example.org/org/repo.git', { allowedHosts })).toMatch(/not in sandbox\.git_allowed_hosts/);
    expect(refusal('https://140.82.112.3/org/repo.git', { allowedHosts })).toMatch(/not in sandbox\.git_allowed_hosts/);
  });

  it('reads both host lists from the sandbox config, and refuses a list entry that is not a host', () => {
    const sandbox = configSchema.parse({ sandbox: { git_allowed_hosts: 'github.com, *.example.org', git_allow_private_for_hosts: ['mirror.internal'] } }).sandbox;
    expect(gitSourcePolicy(sandbox)).toMatchObject({ allowedHosts: ['github.com', '*.example.org'], allowPrivateForHosts: ['mirror.internal'] });
    expect(gitSourcePolicy(configSchema.parse({}).sandbox)).toMatchObject({ allowedHosts: [], allowPrivateForHosts: [] });
    const bad = configSchema.safeParse({ sandbox: { git_allowed_hosts: ['https://github.com'] } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]).toMatchObject({ path: ['sandbox', 'git_allowed_hosts', 0], message: expect.stringMatching(/host name or \*\.domain/) });
  });

  it('refuses host names that are not plain DNS names', () => {
    expect(refusal('https://example.com./repo.git')).toMatch(/host/);
    expect(refusal('https://under_score.example/repo.git')).toMatch(/host/);
  });
});

describe('checkGitSource: file://', () => {
  it('allows a repository under the root and hands git its real path', () => {
    const url = pathToFileURL(path.join(fileRoot, 'repo')).href;
    expect(resolveGitSource({ url }, policy)).toEqual({ ok: true, url });
  });

  it('resolves a symlink that stays inside the root to its target', () => {
    const url = pathToFileURL(path.join(fileRoot, 'alias')).href;
    expect(resolveGitSource({ url }, policy)).toEqual({ ok: true, url: pathToFileURL(path.join(fileRoot, 'repo')).href });
  });

  it('keeps percent-encoding so git decodes back to the checked path', () => {
    const resolved = resolveGitSource({ url: pathToFileURL(path.join(fileRoot, 'with space')).href }, policy);
    expect(resolved).toEqual({ ok: true, url: `file://${fileRoot}/with%20space` });
  });

  it('refuses paths outside the root', () => {
    expect(refusal(pathToFileURL(outside).href)).toMatch(/outside the allowed source directory/);
    expect(refusal('file:///etc')).toMatch(/outside/);
    expect(refusal(pathToFileURL(base).href)).toMatch(/outside/);
  });

  it('refuses .. escapes, plain and percent-encoded', () => {
    expect(refusal(`file://${fileRoot}/repo/../../outside/secret`)).toMatch(/outside/);
    expect(refusal(`file://${fileRoot}/%2e%2e/outside`)).toMatch(/outside/);
    expect(refusal(`file://${fileRoot}/repo/%2E%2E/%2E%2E/outside`)).toMatch(/outside/);
  });

  it('refuses a symlink that leaves the root, even towards a path that does not exist yet', () => {
    expect(refusal(pathToFileURL(path.join(fileRoot, 'escape', 'secret')).href)).toMatch(/outside/);
    expect(refusal(pathToFileURL(path.join(fileRoot, 'escape', 'not-yet', 'repo.git')).href)).toMatch(/outside/);
  });

  it('refuses a sibling directory whose name merely starts with the root', () => {
    expect(refusal(pathToFileURL(`${fileRoot}-evil/repo`).href)).toMatch(/outside/);
  });

  it('refuses file:// when no root is configured, and remote file hosts', () => {
    expect(refusal(pathToFileURL(path.join(fileRoot, 'repo')).href, { fileRoot: null })).toMatch(/file:\/\/ sources are disabled/);
    expect(refusal(`file://otherhost${fileRoot}/repo`)).toMatch(/must not name a host/);
  });
});

describe('ref names', () => {
  it('accepts branches, tags and full commit ids', () => {
    for (const ref of ['main', 'feature/login-form', 'v1.2.3', 'release_2024', 'a'.repeat(40), 'f'.repeat(64)]) {
      expect(isSafeRefName(ref), ref).toBe(true);
    }
  });

  it('refuses option injection and names git would reject', () => {
    for (const ref of [
      '',
      '-b',
      '--upload-pack=touch /tmp/x',
      'a..b',
      'a b',
      'a\tb',
      'a\nb',
      'a~1',
      'a^',
      'a:b',
      'a?',
      'a*',
      'a[b',
      'a\\b',
      'x.lock',
      'dir/x.lock',
      '.hidden',
      'dir/.hidden',
      'a//b',
      '/main',
      'main/',
      'main.',
      'a@{1}',
      '@',
      'HEAD',
      'refs/heads/main',
      'x'.repeat(256),
    ]) {
      expect(isSafeRefName(ref), JSON.stringify(ref)).toBe(false);
    }
  });

  it('checkGitSource refuses a bad ref even for an allowed URL', () => {
    expect(refusal('https://example.com/repo.git', {}, '--upload-pack=x')).toMatch(/ref is not a valid/);
  });

  it('tells full commit ids from names', () => {
    expect(isCommitSha('0123456789abcdef0123456789abcdef01234567')).toBe(true);
    expect(isCommitSha('0123456')).toBe(false);
    expect(isCommitSha('0123456789ABCDEF0123456789ABCDEF01234567')).toBe(false);
  });
});
