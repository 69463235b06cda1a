import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollFor } from '../support/poll.js';
import { RateLimiter } from '../../src/auth/rate-limiter.js';
import { LoginThrottle } from '../../src/auth/login-throttle.js';
import { configSchema } from '../../src/config/index.js';
import { redisMode } from '../../src/config/sections/redis.js';
import { createLogger } from '../../src/observability/logger.js';
import { readQueueStats } from '../../src/observability/queue-stats.js';
import { createRedis, type RedisClient } from '../../src/queue/redis.js';
import type { ApiClient } from '../support/api-client.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startRedisCluster, redisCli, type RedisTopology } from '../support/redis-servers.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { signUp, startCluster, type Cluster } from '../support/system.js';
import { cancelRunning, runAndStream, type FlowContext } from './task-flows.js';

// A 3-master Redis Cluster of real redis-server processes on loopback, and the real API and worker processes
// on it (redis.cluster.nodes): tasks submitted, run, streamed and cancelled; every key of the deployment on one
// slot; the Lua scripts of the rate limiter and the login throttle counting there instead of failing open.

const id = testId('rcluster');
let topology: RedisTopology & { nodes: string[] };
let db: TestDatabase;
let model: ScriptedModel;
let sys: Cluster;
let client: ApiClient;
let flow: FlowContext;
let settings: ReturnType<typeof configSchema.parse>['redis'];
const connections: RedisClient[] = [];

/** A connection of the test's own, once it is ready (a command connection has no offline queue). */
const connect = async (role: 'command' | 'subscriber') => {
  const r = createRedis(settings, role, `${id}-test-${role}`);
  connections.push(r);
  // A cluster client may pass through 'reconnecting' while it learns the slots (redisReady calls that down):
  // the test only needs it ready, within a bound.
  const ready = await pollFor(async () => (r.status === 'ready' ? true : undefined), 10_000, 50);
  if (!ready) throw new Error(`the test's ${role} connection to the cluster did not get ready (status ${r.status})`);
  return r;
};

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  topology = await startRedisCluster();
  model = await startScriptedModel();
  db = await createTestDatabase('rcluster');
  settings = configSchema.parse({ redis: { cluster: { nodes: topology.nodes }, key_prefix: `aicli-test-${id}` } }).redis;
  sys = await startCluster({
    id,
    dbUrl: db.url,
    image,
    modelUrl: model.url,
    workers: 1,
    extraEnv: {
      REDIS_URL: '',
      AICLI__REDIS__CLUSTER__NODES: topology.nodes.join(','),
      AICLI__WORKER__POOL_SIZE: '0',
      // Cancels must arrive over the control channel (pub/sub through the cluster), not the database poll.
      AICLI__WORKER__CANCEL_POLL_INTERVAL: '60s',
    },
  });
  client = await signUp({ env: sys.env, api: sys.api }, 'cluster@example.com');
  const workspaceId = (await client.request('POST', '/api/v1/workspaces', { name: 'cluster' })).json.id as string;
  flow = { client, workspaceId, db, model, prefix: settings.key_prefix, subscriber: await connect('subscriber') };
});

afterAll(async () => {
  for (const r of connections) r.disconnect();
  await sys?.stop();
  await model?.close();
  await db?.drop();
  await topology?.stop();
});

describe('on a 3-master Redis Cluster', () => {
  it('the effective prefix is hash-tagged', () => {
    expect(redisMode(settings)).toBe('cluster');
    expect(settings.key_prefix).toBe(`{aicli-test-${id}}`);
  });

  it('a task runs and streams over SSE, fed by pub/sub through the cluster', async () => {
    await runAndStream(flow, 'cl-stream');
  });

  it('a running task is cancelled through the control channel', async () => {
    await cancelRunning(flow, 'cl-cancel');
  });

  it('every key of the deployment (BullMQ, liveness, auth) lives on the one slot of its hash tag', async () => {
    const perNode = await Promise.all(
      topology.servers.map(async (s) => (await redisCli(s.port, '--scan', '--pattern', `*aicli-test-${id}*`)).split('\n').filter(Boolean)),
    );
    const all = perNode.flat();
    expect(all.some((k) => k.startsWith(`${settings.key_prefix}:tasks-${id}:`))).toBe(true);
    expect(all.some((k) => k.startsWith(`${settings.key_prefix}:worker:`))).toBe(true);
    expect(all.every((k) => k.startsWith(`${settings.key_prefix}:`))).toBe(true);
    expect(perNode.filter((keys) => keys.length > 0)).toHaveLength(1);
    const slots = new Set(await Promise.all(all.slice(0, 20).map(async (k) => (await redisCli(topology.servers[0]!.port, 'cluster', 'keyslot', k)).trim())));
    expect(slots.size).toBe(1);
  });

  it('the queue gauges script reads the cluster', async () => {
    const stats = await readQueueStats(await connect('command'), settings.key_prefix, [`tasks-${id}`]);
    expect(stats).toHaveLength(1);
    expect(stats[0]!.counts.completed + stats[0]!.counts.failed).toBeGreaterThanOrEqual(2);
  });

  it('the rate limiter refuses the request past the limit (its script stays on one slot) and the prefixed whitelist exempts', async () => {
    const logger = createLogger(testConfig(id, 'postgres://unused/none'), 'test');
    const redis = await connect('command');
    const prefix = `${settings.key_prefix}:`;
    const limiter = new RateLimiter(redis, prefix, [], 0, logger);
    const rule = { requests: 3, window: 60_000 };
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await limiter.hit('ip:192.0.2.7', rule, { ip: '192.0.2.7', userId: 'u1' }));
    expect(answers.map((d) => d?.allowed)).toEqual([true, true, true, false]);
    await redis.set(`${prefix}whitelist:ip:192.0.2.7`, '1');
    expect(await limiter.hit('ip:192.0.2.7', rule, { ip: '192.0.2.7' })).toBeNull();
    await redis.set(`${prefix}user_limit:u2`, '2');
    const raised = await limiter.hit('user:u2', rule, { userId: 'u2' });
    expect(raised?.limit).toBe(6);

    const throttle = new LoginThrottle(redis, prefix, 2, 60_000, logger);
    const tries = [];
    for (let i = 0; i < 3; i++) tries.push(await throttle.attempt('someone@example.com'));
    // null: the attempt may go ahead; a number: the seconds the account stays locked.
    expect(tries.map((t) => t === null)).toEqual([true, true, false]);
  });
});
