import type Dockerode from 'dockerode';
import type { RedisClient } from '../../src/queue/redis.js';
import type { Config } from '../../src/config/index.js';
import type { Sql } from '../../src/db/client.js';
import type { Logger } from '../../src/observability/logger.js';
import type { Metrics } from '../../src/observability/metrics.js';
import type { TaskLifecycle } from '../../src/tasks/lifecycle/index.js';
import type { ModelGateway } from '../gateway/server.js';
import type { SandboxPool } from '../sandbox/pool.js';
import type { BackgroundCleanups } from './background-cleanups.js';
import type { SandboxRunner } from '../sandbox/runner.js';

/** Everything a worker's task attempts need, created once per worker process. */
export interface WorkerResources {
  config: Config;
  sql: Sql;
  logger: Logger;
  /** Publishes task events (retrying connection: events are also in Postgres). */
  publisher: RedisClient;
  /** Every change of a task's state (claim, finish, retry, release) goes through it. */
  lifecycle: TaskLifecycle;
  docker: Dockerode;
  runner: SandboxRunner;
  /** Attempts' releases still running after their outcome (the reaper leaves them alone; shutdown awaits them). */
  cleanups: BackgroundCleanups;
  /** Warm sandboxes (worker.pool_size); null when the pool is off. */
  pool: SandboxPool | null;
  gateway: ModelGateway;
  workerId: string;
  /** This worker's Prometheus registry (served by its ops listener). */
  metrics: Metrics;
  /** The sandbox image tag this worker runs. */
  image: string;
  /** This worker's scratch directory (one per worker so orphan reaping never touches a live neighbour's). */
  scratchDir: string;
  /** This worker's dir of loop-mode scratch images (`<image root>/<workerId>`). */
  scratchImageDir: string;
  /** Labels added to every sandbox (tests isolate their containers with aicli.test_id). */
  extraLabels: Record<string, string>;
}
