import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedAddress, Resolver } from '../../src/net/address-guard.js';
import { GitError } from '../../workers/workspace/git.js';
import { pinSupportProblem } from '../../workers/workspace/git-host-guard.js';
import { prepareWorkspace, WorkspaceError, type PrepareWorkspaceOptions, type WorkspaceSource } from '../../workers/workspace/prepare.js';
import type { GitSourcePolicy } from '../../src/domain/git-source-policy.js';
import { gitHttpBackend, makeTestTls, startHttpsServer, type TestHttpsServer, type TestTls } from '../support/git-https-server.js';
import { freePort } from '../support/private-services.js';

// https:// git sources against real git and real loopback servers. Host names are answered by an
// injected resolver (never real DNS): GIT_HOST exists only there, pinned to 127.0.0.1, so a clone that
// reaches it proves git used the checked, pinned address. No connection goes beyond loopback.

const GIT_HOST = 'git.aicli.test';
const fakeDns: Record<string, string[]> = {
  [GIT_HOST]: ['127.0.0.1'],
  'loop.aicli.test': ['127.0.0.1'],
  'v6loop.aicli.test': ['::1'],
  'private.aicli.test': ['10.0.0.7'],
  'mapped.aicli.test': ['::ffff:127.0.0.1'],
  // One public and one loopback answer: git could be steered to either, so the name is refused.
  'mixed.aicli.test': ['93.184.216.34', '127.0.0.1'],
  'metadata.aicli.test': ['169.254.169.254'],
};
const asked: string[] = [];
const resolver: Resolver = async (host) => {
  asked.push(host);
  const found = fakeDns[host];
  if (!found) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return found.map((address): ResolvedAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
};

const policy: GitSourcePolicy = { fileRoot: null, allowHttps: true, allowPrivateForHosts: [GIT_HOST, 'metadata.aicli.test'] };

let base: string;
let scratchRoot: string;
let tls: TestTls;
let repoCommit: string;
let backend: TestHttpsServer;
let redirector: TestHttpsServer;
let savedCaInfo: string | undefined;
let attemptCounter = 0;

/** Plain TCP listener on every loopback address (IPv4 and IPv6) that counts connections. */
let tripwire: Server;
let tripwirePort = 0;
let tripwireConnections = 0;

const gitEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: tmpdir() };
function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', '-c', 'init.defaultBranch=main', ...args], { cwd, env: gitEnv })
    .toString('utf8')
    .trim();
}

function options(source: WorkspaceSource, extra: Partial<PrepareWorkspaceOptions> = {}): PrepareWorkspaceOptions {
  attemptCounter += 1;
  return { scratchRoot, taskId: 'task-git-guard', attempt: attemptCounter, source, policy, resolver, ...extra };
}

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as { port: number }).port;
}

async function failure(source: WorkspaceSource, extra: Partial<PrepareWorkspaceOptions> = {}): Promise<WorkspaceError> {
  const caught = await prepareWorkspace(options(source, extra)).then(
    () => null,
    (error: unknown) => error,
  );
  if (!(caught instanceof WorkspaceError)) throw new Error(`expected a WorkspaceError for ${JSON.stringify(source)}, got ${String(caught)}`);
  return caught;
}

beforeAll(async () => {
  expect(process.getuid?.(), 'preparing a workspace chowns to 1000:1000 and must run as root').toBe(0);
  base = await mkdtemp(path.join(tmpdir(), 'aicli-git-guard-'));
  scratchRoot = path.join(base, 'scratch');
  tls = makeTestTls(base, GIT_HOST);
  savedCaInfo = process.env.GIT_SSL_CAINFO;
  process.env.GIT_SSL_CAINFO = tls.certFile;

  const work = path.join(base, 'work');
  await mkdir(work);
  git(work, 'init', '-q');
  await writeFile(path.join(work, 'README.md'), 'served over https\n');
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'first');
  repoCommit = git(work, 'rev-parse', 'HEAD');
  const projectRoot = path.join(base, 'served');
  await mkdir(projectRoot);
  git(base, 'clone', '-q', '--bare', work, path.join(projectRoot, 'repo.git'));

  backend = await startHttpsServer(tls, gitHttpBackend(projectRoot));
  // Redirects every request to the same path on the backend, by address: a followed redirect would clone from there.
  redirector = await startHttpsServer(tls, (req, res) => {
    res.writeHead(302, { location: `https://127.0.0.1:${backend.port}${req.url ?? '/'}` }).end();
  });

  tripwire = createServer((socket: Socket) => {
    tripwireConnections += 1;
    socket.on('error', () => {});
    socket.destroy();
  });
  tripwirePort = await listen(tripwire, '::');
});

afterAll(async () => {
  if (savedCaInfo === undefined) delete process.env.GIT_SSL_CAINFO;
  else process.env.GIT_SSL_CAINFO = savedCaInfo;
  await Promise.allSettled([backend?.close(), redirector?.close(), new Promise((resolve) => tripwire?.close(resolve))]);
  await rm(base, { recursive: true, force: true });
});

describe('https:// git sources: refused before git runs', () => {
  const literalCases: Array<[string, RegExp]> = [
    ['https://169.254.169.254/x.git', /169\.254\.169\.254 is a cloud metadata address/],
    ['https://127.0.0.1:PORT/repo.git', /127\.0\.0\.1 is a loopback address/],
    ['https://[::1]:PORT/repo.git', /::1 is a loopback address/],
    ['https://0x7f000001:PORT/repo.git', /127\.0\.0\.1 is a loopback address/],
    ['https://2130706433:PORT/repo.git', /127\.0\.0\.1 is a loopback address/],
    ['https://017700000001:PORT/repo.git', /127\.0\.0\.1 is a loopback address/],
    ['https://[::ffff:7f00:1]:PORT/repo.git', /embeds 127\.0\.0\.1/],
  ];
  const nameCases: Array<[string, RegExp]> = [
    ['https://loop.aicli.test:PORT/repo.git', /loop\.aicli\.test resolves to 127\.0\.0\.1 is a loopback address/],
    ['https://v6loop.aicli.test:PORT/repo.git', /resolves to ::1 is a loopback address/],
    ['https://private.aicli.test:PORT/repo.git', /resolves to 10\.0\.0\.7 is a private/],
    ['https://mapped.aicli.test:PORT/repo.git', /embeds 127\.0\.0\.1/],
    ['https://mixed.aicli.test:PORT/repo.git', /mixed\.aicli\.test resolves to 127\.0\.0\.1 is a loopback address/],
    // Allowed as private by the operator, but metadata stays refused for every host.
    ['https://metadata.aicli.test/x.git', /resolves to 169\.254\.169\.254 is a cloud metadata address/],
  ];

  it.each([...literalCases, ...nameCases])('%s', async (template, why) => {
    const untouchedScratch = path.join(base, `untouched-${attemptCounter}`);
    const url = template.replace('PORT', String(tripwirePort));
    const error = await failure({ type: 'git', url }, { scratchRoot: untouchedScratch });
    expect(tripwireConnections, 'connections that reached the loopback listener').toBe(0);
    expect(error.code).toBe('source_refused');
    expect(error.message).toMatch(why);
    expect(await lstat(untouchedScratch).catch(() => null), 'nothing is created for a refused source').toBeNull();
  });

  it('asks the resolver for names only, never for address literals', () => {
    expect(asked.filter((host) => /^[\d[]|^0x/.test(host))).toEqual([]);
    expect(asked).toContain('mixed.aicli.test');
  });
});

describe('https:// git sources: git connects only to the checked address', () => {
  it('clones from a host name that only the pin makes reachable', async () => {
    const served = backend.requests.length;
    const ws = await prepareWorkspace(options({ type: 'git', url: `https://${GIT_HOST}:${backend.port}/repo.git` }));
    expect(ws.sourceCommit).toBe(repoCommit);
    expect(await readFile(path.join(ws.workspaceDir, 'README.md'), 'utf8')).toBe('served over https\n');
    expect(backend.requests.length).toBeGreaterThan(served);
    await rm(ws.root, { recursive: true, force: true });
  });

  it('clones a commit by id through the pin too (init + fetch)', async () => {
    const ws = await prepareWorkspace(options({ type: 'git', url: `https://${GIT_HOST}:${backend.port}/repo.git`, ref: repoCommit }));
    expect(ws.sourceCommit).toBe(repoCommit);
    await rm(ws.root, { recursive: true, force: true });
  });

  it('does not follow a redirect: the clone fails and the redirect target gets no request', async () => {
    const servedBefore = backend.requests.length;
    const error = await failure({ type: 'git', url: `https://${GIT_HOST}:${redirector.port}/repo.git` });
    expect(error.code).toBe('git_failed');
    expect(redirector.requests.length, 'the redirecting server was reached through the pin').toBeGreaterThan(0);
    expect(backend.requests.slice(servedBefore), 'requests that reached the redirect target').toEqual([]);
  });
});

describe('https:// git sources: failures look alike to the user', () => {
  let closingServer: Server;
  let closingPort = 0;
  let notTlsServer: Server;
  let notTlsPort = 0;

  // The sockets the plain-HTTP server answered: a client may hold its end open, and close() waits for it.
  const answered = new Set<Socket>();

  beforeAll(async () => {
    // Accepts, then closes the connection at once.
    closingServer = createServer((socket) => socket.on('error', () => {}).destroy());
    closingPort = await listen(closingServer, '127.0.0.1');
    // Speaks plain HTTP where TLS is expected.
    notTlsServer = createServer((socket) => {
      answered.add(socket);
      socket.on('close', () => answered.delete(socket));
      socket.on('error', () => {}).end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    });
    notTlsPort = await listen(notTlsServer, '127.0.0.1');
  });
  afterAll(async () => {
    for (const socket of answered) socket.destroy();
    await Promise.allSettled([new Promise((resolve) => closingServer.close(resolve)), new Promise((resolve) => notTlsServer.close(resolve))]);
  });

  it('gives one message for a refused port, a closed connection and a TLS failure, and keeps the detail for operators', async () => {
    const refusedPort = await freePort();
    const failures = await Promise.all(
      [refusedPort, closingPort, notTlsPort].map((port) => failure({ type: 'git', url: `https://${GIT_HOST}:${port}/repo.git` })),
    );
    const messages = failures.map((error) => error.message);
    expect(new Set(messages).size, `user-facing messages: ${JSON.stringify(messages)}`).toBe(1);
    expect(messages[0]).toBe('git clone failed: the source could not be fetched');
    for (const error of failures) expect(error.code).toBe('git_failed');

    const details = failures.map((error) => (error.cause instanceof GitError ? error.cause.detail : ''));
    expect(details.every((detail) => detail.startsWith('fatal:')), JSON.stringify(details)).toBe(true);
    expect(new Set(details).size, 'operators still see what went wrong').toBe(3);
  });
});

describe('the address pin needs a git that reads http.curloptResolve', () => {
  it('accepts git 2.37 and newer, refuses older or unknown ones with the fix', () => {
    expect(pinSupportProblem('git version 2.39.5\n')).toBeNull();
    expect(pinSupportProblem('git version 2.37.0')).toBeNull();
    expect(pinSupportProblem('git version 3.0.1')).toBeNull();
    expect(pinSupportProblem('git version 2.36.6')).toMatch(/git 2\.36 .*needs git 2\.37 or newer.*sandbox\.allow_https_git: false/);
    expect(pinSupportProblem('something else')).toMatch(/unknown version/);
  });
});
