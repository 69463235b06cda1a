import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from '../../src/net/address-guard.js';
import { decideEgress, parseAuthority, type EgressRules } from '../../workers/egress/decide.js';
import { createEgressProxy, type EgressProxy } from '../../workers/egress/proxy.js';

// The proxy is exercised end to end only against loopback servers of this
// test (names pinned to 127.0.0.1 with static_hosts). Refusals of private,
// link-local and metadata addresses are shown on decideEgress with an
// injected resolver: nothing here connects anywhere but loopback.

interface Target {
  server: http.Server;
  port: number;
  connections: number;
  requests: string[];
}

async function startTarget(name: string): Promise<Target> {
  const target: Target = { server: http.createServer(), port: 0, connections: 0, requests: [] };
  target.server.on('connection', () => (target.connections += 1));
  target.server.on('request', (req, res) => {
    target.requests.push(`${req.method} ${req.url} host=${req.headers.host}`);
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello from ${name}`);
  });
  await new Promise<void>((resolve) => target.server.listen(0, '127.0.0.1', resolve));
  target.port = (target.server.address() as net.AddressInfo).port;
  return target;
}

/** CONNECT through the proxy's unix socket; then, if tunnelled, one HTTP/1.0 GET through the tunnel. */
function connectThrough(socketPath: string, authority: string, hostHeader: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'CONNECT', path: authority, agent: false });
    req.on('connect', (res, socket, head: Buffer) => {
      if (res.statusCode !== 200) {
        // Bytes after the status line that the client already read arrive as `head`.
        const chunks: Buffer[] = [head];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        socket.on('error', reject);
        return;
      }
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('end', () => resolve({ status: 200, body: Buffer.concat(chunks).toString() }));
      socket.on('error', reject);
      socket.write(`GET /through-tunnel HTTP/1.0\r\nHost: ${hostHeader}\r\n\r\n`);
    });
    req.on('error', reject);
    req.end();
  });
}

function getThrough(socketPath: string, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'GET', path: url, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('egress proxy over a unix socket', () => {
  let dir: string;
  let listed: Target;
  let unlisted: Target;
  let proxy: EgressProxy;
  const logLines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aicli-egress-'));
    listed = await startTarget('listed');
    unlisted = await startTarget('unlisted');
    proxy = createEgressProxy({
      socketPath: join(dir, 'egress.sock'),
      taskId: 'task-egress',
      logger,
      rules: {
        domains: ['mirror.allowed.test', '*.wild.test'],
        allowedPorts: [listed.port, unlisted.port],
        allowPrivateForHosts: ['mirror.allowed.test', 'other.unlisted.test', 'a.wild.test'],
        staticHosts: {
          'mirror.allowed.test': ['127.0.0.1'],
          'other.unlisted.test': ['127.0.0.1'],
          'a.wild.test': ['127.0.0.1'],
          'loop.allowed.test': ['127.0.0.1'],
        },
      },
    });
    await proxy.listen();
  });

  afterAll(async () => {
    await proxy?.close();
    for (const t of [listed, unlisted]) {
      t?.server.closeAllConnections();
      await new Promise<void>((resolve) => t?.server.close(() => resolve()) ?? resolve());
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('tunnels CONNECT to a listed host, pinned to the checked address', async () => {
    const res = await connectThrough(proxy.socketPath, `mirror.allowed.test:${listed.port}`, 'mirror.allowed.test');
    expect(res.status).toBe(200);
    expect(res.body).toContain('hello from listed');
    expect(listed.requests).toContain('GET /through-tunnel host=mirror.allowed.test');
    const wild = await connectThrough(proxy.socketPath, `a.wild.test:${listed.port}`, 'a.wild.test');
    expect(wild.body).toContain('hello from listed');
  });

  it('forwards plain HTTP in absolute form to a listed host', async () => {
    const res = await getThrough(proxy.socketPath, `http://mirror.allowed.test:${listed.port}/plain?x=1`);
    expect(res).toEqual({ status: 200, body: 'hello from listed' });
    expect(listed.requests).toContain(`GET /plain?x=1 host=mirror.allowed.test:${listed.port}`);
  });

  it('refuses an unlisted host, an IP literal, a port outside the list and loopback without allowance; none is contacted', async () => {
    const before = { listed: listed.connections, unlisted: unlisted.connections };
    const cases: Array<[string, RegExp]> = [
      [`other.unlisted.test:${unlisted.port}`, /not in this workspace's egress allowlist/],
      [`127.0.0.1:${listed.port}`, /is an IP address/],
      [`[::1]:${listed.port}`, /is an IP address/],
      [`mirror.allowed.test:${listed.port + 1 === unlisted.port ? listed.port + 2 : listed.port + 1}`, /port \d+ is not allowed/],
      [`loop.allowed.test:${listed.port}`, /not in this workspace's egress allowlist/],
      [`2130706433:${listed.port}`, /not a host name/],
    ];
    for (const [authority, message] of cases) {
      const res = await connectThrough(proxy.socketPath, authority, 'x');
      expect(res.status, authority).toBe(403);
      expect(res.body).toMatch(message);
    }
    expect((await getThrough(proxy.socketPath, `http://other.unlisted.test:${unlisted.port}/`)).status).toBe(403);
    expect(listed.connections).toBe(before.listed);
    expect(unlisted.connections).toBe(before.unlisted);
    expect(unlisted.requests).toEqual([]);
  });

  it('answers a malformed CONNECT with 400', async () => {
    expect((await connectThrough(proxy.socketPath, 'no-port-here', 'x')).status).toBe(400);
  });

  it('logs every decision with host, port and reason, and counts them', () => {
    const allowed = logLines.filter((l) => l.action === 'egress_allowed');
    const refused = logLines.filter((l) => l.action === 'egress_refused');
    expect(allowed.length).toBe(proxy.stats.allowed);
    expect(refused.length).toBe(proxy.stats.refused);
    expect(allowed[0]).toMatchObject({ task_id: 'task-egress', host: 'mirror.allowed.test', port: listed.port, address: '127.0.0.1' });
    expect(refused.map((l) => l.reason)).toEqual(
      expect.arrayContaining(['not_allowlisted', 'ip_literal', 'port_not_allowed', 'bad_host']),
    );
  });

  it('close() ends open tunnels and removes the socket', async () => {
    const extra = createEgressProxy({ socketPath: join(dir, 'extra.sock'), taskId: 't2', logger, rules: {
      domains: ['mirror.allowed.test'], allowedPorts: [listed.port], allowPrivateForHosts: ['mirror.allowed.test'], staticHosts: { 'mirror.allowed.test': ['127.0.0.1'] },
    } });
    await extra.listen();
    const ended = new Promise<void>((resolve, reject) => {
      const req = http.request({ socketPath: extra.socketPath, method: 'CONNECT', path: `mirror.allowed.test:${listed.port}`, agent: false });
      req.on('connect', (res, socket) => {
        expect(res.statusCode).toBe(200);
        socket.on('close', () => resolve());
        socket.on('error', () => undefined);
        void extra.close();
      });
      req.on('error', reject);
      req.end();
    });
    await ended;
    await extra.close();
    expect(existsSync(extra.socketPath)).toBe(false);
  });
  it('opens a 0666 socket and refuses to take over a live proxy\'s socket or a file that is not a socket', async () => {
    const rules: EgressRules = { domains: ['mirror.allowed.test'], allowedPorts: [listed.port], allowPrivateForHosts: [], staticHosts: {} };
    const stats = await stat(proxy.socketPath);
    expect(stats.mode & 0o777).toBe(0o666);
    const rival = createEgressProxy({ socketPath: proxy.socketPath, taskId: 't3', logger, rules });
    await expect(rival.listen()).rejects.toThrow(/already serving/);
    await rival.close();
    expect(existsSync(proxy.socketPath)).toBe(true);
    const plainFile = join(dir, 'not-a-socket');
    await writeFile(plainFile, 'keep me');
    const misplaced = createEgressProxy({ socketPath: plainFile, taskId: 't4', logger, rules });
    await expect(misplaced.listen()).rejects.toThrow(/not a socket/);
    expect(await readFile(plainFile, 'utf8')).toBe('keep me');
  });
});

describe('decideEgress (no connection is ever opened)', () => {
  const resolver: Resolver = async (host) => {
    const table: Record<string, string> = {
      'internal.corp.test': '10.1.2.3',
      'meta.corp.test': '169.254.169.254',
      'll6.corp.test': 'fe80::1',
      'ula.corp.test': 'fd00::5',
      'cgnat.corp.test': '100.64.1.1',
      'mapped.corp.test': '::ffff:192.168.1.1',
      'public.corp.test': '93.184.215.14',
    };
    const address = table[host];
    if (address === undefined) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
    return [{ address, family: address.includes(':') ? 6 : 4 }];
  };
  const rules = (extra: Partial<EgressRules> = {}): EgressRules => ({
    domains: ['*.corp.test'],
    allowedPorts: [443, 80],
    allowPrivateForHosts: [],
    staticHosts: {},
    resolver,
    ...extra,
  });

  it.each([
    ['internal.corp.test', 'private'],
    ['meta.corp.test', 'metadata'],
    ['ll6.corp.test', 'link_local'],
    ['ula.corp.test', 'unique_local'],
    ['cgnat.corp.test', 'cgnat'],
    ['mapped.corp.test', 'private'],
    ['gone.corp.test', 'resolve_failed'],
  ])('refuses %s (%s)', async (host, reason) => {
    expect(await decideEgress({ host, port: 443 }, rules())).toMatchObject({ ok: false, reason });
  });

  it('refuses IP literals of every kind before any lookup', async () => {
    for (const host of ['169.254.169.254', '10.0.0.1', 'fe80::1', '::ffff:127.0.0.1', '8.8.8.8']) {
      expect(await decideEgress({ host, port: 443 }, rules({ domains: [host] }))).toMatchObject({ ok: false, reason: 'ip_literal' });
    }
  });

  it('keeps metadata and link-local refused even for hosts allowed private ranges', async () => {
    const allowing = rules({ allowPrivateForHosts: ['meta.corp.test', 'll6.corp.test', 'internal.corp.test'] });
    expect(await decideEgress({ host: 'meta.corp.test', port: 443 }, allowing)).toMatchObject({ ok: false, reason: 'metadata' });
    expect(await decideEgress({ host: 'll6.corp.test', port: 443 }, allowing)).toMatchObject({ ok: false, reason: 'link_local' });
    expect(await decideEgress({ host: 'internal.corp.test', port: 443 }, allowing)).toMatchObject({ ok: true, address: { address: '10.1.2.3' } });
  });

  it('allows a listed public host and returns the address to connect to', async () => {
    expect(await decideEgress({ host: 'Public.Corp.Test.', port: 443 }, rules())).toEqual({
      ok: true,
      host: 'public.corp.test',
      port: 443,
      address: { address: '93.184.215.14', family: 4 },
    });
    expect(await decideEgress({ host: 'public.corp.test', port: 22 }, rules())).toMatchObject({ ok: false, reason: 'port_not_allowed' });
    expect(await decideEgress({ host: 'corp.test', port: 443 }, rules())).toMatchObject({ ok: false, reason: 'not_allowlisted' });
  });

  it('parses CONNECT authorities', () => {
    expect(parseAuthority('example.com:443')).toEqual({ host: 'example.com', port: 443 });
    expect(parseAuthority('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseAuthority('example.com')).toBeNull();
    expect(parseAuthority('example.com:99999')).toBeNull();
  });
});
