import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import type { RequestListener } from 'node:http';
import { createServer } from 'node:https';
import os from 'node:os';
import path from 'node:path';

// A git server over real HTTPS on loopback, for clone tests: a self-signed
// certificate made with openssl (trust it with GIT_SSL_CAINFO) and either the
// smart-HTTP `git http-backend` CGI or a custom handler (redirects).

export interface TestTls {
  cert: string;
  key: string;
  /** PEM file of the certificate, for GIT_SSL_CAINFO. */
  certFile: string;
}

/** A throwaway certificate for `dnsName` and 127.0.0.1, written under `dir`. */
export function makeTestTls(dir: string, dnsName: string): TestTls {
  const keyFile = path.join(dir, 'tls-key.pem');
  const certFile = path.join(dir, 'tls-cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${dnsName}`,
      '-addext', `subjectAltName=DNS:${dnsName},IP:127.0.0.1`, '-keyout', keyFile, '-out', certFile],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile };
}

export interface TestHttpsServer {
  port: number;
  /** `METHOD path?query` of every request received, in order. */
  requests: string[];
  close(): Promise<void>;
}

export async function startHttpsServer(tls: TestTls, handler: RequestListener): Promise<TestHttpsServer> {
  const requests: string[] = [];
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    requests.push(`${req.method ?? '?'} ${req.url ?? ''}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface GitPushAuth {
  username: string;
  password: string;
}

/** True for the two requests of a push (the ref advertisement for receive-pack and the pack upload). */
function isPushRequest(url: URL): boolean {
  return url.pathname.endsWith('/git-receive-pack') || url.searchParams.get('service') === 'git-receive-pack';
}

/**
 * Serves the bare repositories under `projectRoot` with `git http-backend` (smart HTTP, protocol v2). With
 * `pushAuth`, pushes are accepted (http-backend enables receive-pack for an authenticated REMOTE_USER) only
 * with exactly that basic-auth user and password; anything else gets 401. Fetches need no credentials.
 */
export function gitHttpBackend(projectRoot: string, pushAuth?: GitPushAuth): RequestListener {
  const expected = pushAuth ? `Basic ${Buffer.from(`${pushAuth.username}:${pushAuth.password}`).toString('base64')}` : null;
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'https://backend.invalid');
    const pushing = isPushRequest(url);
    if (pushing && (expected === null || req.headers.authorization !== expected)) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"', 'content-type': 'text/plain' }).end('authentication required\n');
      return;
    }
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: projectRoot,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        REMOTE_ADDR: '127.0.0.1',
        ...(pushing && pushAuth ? { REMOTE_USER: pushAuth.username } : {}),
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(child.stdin);
    let head = Buffer.alloc(0);
    let headersSent = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersSent) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      headersSent = true;
      const body = head.subarray(end + 4);
      if (body.length > 0) res.write(body);
    });
    child.on('close', () => {
      if (!headersSent) res.writeHead(502);
      res.end();
    });
  };
}

const testGitEnv = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: os.tmpdir() });

/** git as a test runs it: no system or user config, a fixed identity, `main` as the first branch. */
export function testGit(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', '-c', 'init.defaultBranch=main', ...args], { cwd, env: testGitEnv() })
    .toString('utf8')
    .trim();
}

/** A one-commit repository (README.md holding `readme`) in `<base>/<name>`, and its bare clone `<base>/served/repo.git` for gitHttpBackend. */
export async function servedRepo(base: string, o: { name: string; readme: string; message: string }): Promise<{ work: string; sourceCommit: string; projectRoot: string; bare: string }> {
  const work = path.join(base, o.name);
  await mkdir(work);
  testGit(work, 'init', '-q');
  await writeFile(path.join(work, 'README.md'), o.readme);
  testGit(work, 'add', '-A');
  testGit(work, 'commit', '-q', '-m', o.message);
  const sourceCommit = testGit(work, 'rev-parse', 'HEAD');
  const projectRoot = path.join(base, 'served');
  await mkdir(projectRoot);
  const bare = path.join(projectRoot, 'repo.git');
  testGit(base, 'clone', '-q', '--bare', work, bare);
  return { work, sourceCommit, projectRoot, bare };
}
