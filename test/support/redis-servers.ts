import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { pollFor } from './poll.js';

// Real redis-server processes on loopback, each in its own directory under one temp dir: a 3-master
// Redis Cluster, or a master and a replica under 3 sentinels. stop() kills every one and removes the dir.

const run = promisify(execFile);

/** Polls `probe` until it answers true; fails naming `what` when `timeoutMs` runs out. */
async function pollUntil(probe: () => Promise<boolean>, o: { timeoutMs: number; what: string }): Promise<void> {
  const ok = await pollFor(async () => ((await probe().catch(() => false)) ? true : undefined), o.timeoutMs);
  if (!ok) throw new Error(`timed out after ${o.timeoutMs} ms waiting for ${o.what}`);
}

export interface RedisProcess {
  port: number;
  child: ChildProcess;
  /** Output so far, for a failure message. */
  log(): string;
}

export interface RedisTopology {
  dir: string;
  servers: RedisProcess[];
  stop(): Promise<void>;
}

/** A port free now, and (for a cluster node) its bus port, port + 10000, too. */
async function freePort(withBus: boolean): Promise<number> {
  for (;;) {
    const port = await listenOnce(0);
    if (!withBus) return port;
    if (port + 10_000 < 65_536 && (await listenOnce(port + 10_000).catch(() => 0)) !== 0) return port;
  }
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      const got = (srv.address() as { port: number }).port;
      srv.close(() => resolve(got));
    });
  });
}

function spawnRedis(args: string[], port: number, cwd: string): RedisProcess {
  const child = spawn('redis-server', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  child.once('error', (err) => (out += `spawn failed: ${err.message} (is redis-server installed?)`));
  return { port, child, log: () => out };
}

/** Resolves when `PING` on `port` answers, or fails with the server's own output. */
async function answers(p: RedisProcess): Promise<void> {
  const ok = await pollFor(async () => {
    if (p.child.exitCode !== null) return false;
    const r = new Redis({ port: p.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      return (await r.ping()) === 'PONG' ? true : undefined;
    } catch {
      return undefined;
    } finally {
      r.disconnect();
    }
  }, 20_000);
  if (!ok) throw new Error(`redis-server on port ${p.port} did not answer PING: ${p.log().slice(-2000)}`);
}

async function killAll(servers: RedisProcess[]): Promise<void> {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve();
          s.child.once('exit', () => resolve());
          s.child.kill('SIGKILL');
        }),
    ),
  );
}

function base(port: number, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no'];
}

/** Three masters, no replicas, every slot assigned; resolves when each node reports cluster_state:ok. */
export async function startRedisCluster(): Promise<RedisTopology & { nodes: string[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'aicli-redis-cluster-'));
  const servers: RedisProcess[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort(true);
      const nodeDir = path.join(dir, String(port));
      const args = [...base(port, nodeDir), '--cluster-enabled', 'yes', '--cluster-config-file', path.join(nodeDir, 'nodes.conf'), '--cluster-node-timeout', '2000'];
      servers.push(spawnRedis(args, port, nodeDir));
    }
    await Promise.all(servers.map(answers));
    const nodes = servers.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 60_000 });
    await pollUntil(
      async () => {
        const states = await Promise.all(servers.map((s) => run('redis-cli', ['-p', String(s.port), 'cluster', 'info']).then((r) => r.stdout)));
        return states.every((info) => info.includes('cluster_state:ok'));
      },
      { timeoutMs: 30_000, what: 'every cluster node to report cluster_state:ok' },
    );
    return { dir, servers, nodes, stop: () => stopTopology(servers, dir) };
  } catch (err) {
    await stopTopology(servers, dir);
    throw err;
  }
}

export interface SentinelTopology extends RedisTopology {
  name: string;
  master: RedisProcess;
  replica: RedisProcess;
  sentinels: RedisProcess[];
  /** host:port of the three sentinels. */
  sentinelNodes: string[];
  /** The port the sentinels currently call master. */
  masterPort(): Promise<number>;
}

/** A master, one replica of it and three sentinels (quorum 2); resolves when every sentinel knows both and each other. */
export async function startRedisSentinel(name = 'aicli'): Promise<SentinelTopology> {
  const dir = mkdtempSync(path.join(tmpdir(), 'aicli-redis-sentinel-'));
  const servers: RedisProcess[] = [];
  try {
    const masterPort = await freePort(false);
    const master = spawnRedis(base(masterPort, path.join(dir, 'master')), masterPort, dir);
    servers.push(master);
    await answers(master);
    const replicaPort = await freePort(false);
    const replica = spawnRedis([...base(replicaPort, path.join(dir, 'replica')), '--replicaof', '127.0.0.1', String(masterPort)], replicaPort, dir);
    servers.push(replica);
    await answers(replica);
    const sentinels: RedisProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort(false);
      const sdir = path.join(dir, `sentinel-${port}`);
      mkdirSync(sdir);
      const conf = path.join(sdir, 'sentinel.conf');
      // Sentinel rewrites its config file as it learns the topology, so each has its own, writable.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'protected-mode no',
          `dir ${sdir}`,
          `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${name} 2000`,
          `sentinel failover-timeout ${name} 10000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const s = spawnRedis([conf, '--sentinel'], port, sdir);
      sentinels.push(s);
      servers.push(s);
    }
    await Promise.all(sentinels.map(answers));
    await pollUntil(
      async () => {
        const seen = await Promise.all(
          sentinels.map(async (s) => {
            const replicas = await run('redis-cli', ['-p', String(s.port), 'sentinel', 'replicas', name]).then((r) => r.stdout);
            const others = await run('redis-cli', ['-p', String(s.port), 'sentinel', 'sentinels', name]).then((r) => r.stdout);
            return replicas.includes(String(replicaPort)) && sentinels.every((o) => o === s || others.includes(String(o.port)));
          }),
        );
        return seen.every(Boolean);
      },
      { timeoutMs: 60_000, what: 'every sentinel to know the replica and the other sentinels' },
    );
    const masterPortNow = async () => {
      const r = await run('redis-cli', ['-p', String(sentinels[0]!.port), 'sentinel', 'get-master-addr-by-name', name]);
      return Number(r.stdout.trim().split('\n')[1]);
    };
    return {
      dir,
      servers,
      name,
      master,
      replica,
      sentinels,
      sentinelNodes: sentinels.map((s) => `127.0.0.1:${s.port}`),
      masterPort: masterPortNow,
      stop: () => stopTopology(servers, dir),
    };
  } catch (err) {
    await stopTopology(servers, dir);
    throw err;
  }
}

async function stopTopology(servers: RedisProcess[], dir: string): Promise<void> {
  await killAll(servers);
  rmSync(dir, { recursive: true, force: true });
}

/** `redis-cli -p <port> <args…>`, its stdout. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  return (await run('redis-cli', ['-p', String(port), ...args])).stdout;
}
