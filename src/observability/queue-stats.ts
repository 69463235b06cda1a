import { createHash } from 'node:crypto';
import type { RedisClient } from '../queue/redis.js';

/** The job states the gauges report; `paused` holds the waiting jobs of a paused queue (BullMQ moves them there). */
export const QUEUE_STATES = ['waiting', 'paused', 'prioritized', 'delayed', 'active', 'failed', 'completed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

export interface QueueStats {
  queue: string;
  counts: Record<QueueState, number>;
  /** Seconds since the oldest job waiting for a worker (waiting, paused or prioritized) became due; 0 when none waits. */
  oldestWaitingAgeSeconds: number;
}

// BullMQ 5 key layout (node_modules/bullmq: queue-keys.js, commands/getCounts-1.lua): `<prefix>:<queue>:wait`
// and `:paused` and `:active` are lists, the others sorted sets; a job is the hash `<prefix>:<queue>:<id>`
// with `timestamp` (ms, when added) and `delay`. Workers pop `wait` from the right (RPOPLPUSH), so its
// oldest job is LINDEX -1; prioritized jobs run lowest score first. All keys are passed as KEYS, so a
// hash-tagged prefix (`{aicli}`) keeps one scrape on one Redis Cluster slot.
const KEYS_PER_QUEUE = 7;
/** Priority bands visited per scrape for the oldest prioritized job; tasks use 101 (src/queue/task-queue.ts). */
const MAX_BANDS = 256;
const SCRIPT = `
local now = tonumber(ARGV[1])
local out = {}
local function listLen(key)
  local len = redis.call('LLEN', key)
  if len > 0 then
    local last = redis.call('LINDEX', key, -1)
    -- BullMQ before 5 left a "0:" marker at the tail of wait; getCounts skips it too.
    if last and string.sub(last, 1, 2) == '0:' then return len - 1, redis.call('LINDEX', key, -2) end
    return len, last
  end
  return 0, false
end
local function dueAt(jobPrefix, id)
  if not id then return false end
  local f = redis.call('HMGET', jobPrefix .. id, 'timestamp', 'delay')
  local ts = tonumber(f[1])
  if not ts then return false end
  return ts + (tonumber(f[2]) or 0)
end
-- A prioritized score is priority * 2^32 + a per-queue counter: FIFO within a priority. The oldest job is
-- among the heads of the priority bands present, so visit each band's head (bounded: tasks use 101 bands).
local BAND = 4294967296
local function oldestPrioritized(key, jobPrefix)
  local oldest = false
  local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local bands = 0
  while head[1] and bands < ${MAX_BANDS} do
    bands = bands + 1
    local due = dueAt(jobPrefix, head[1])
    if due and ((not oldest) or due < oldest) then oldest = due end
    local band = math.floor(tonumber(head[2]) / BAND)
    head = redis.call('ZRANGEBYSCORE', key, (band + 1) * BAND, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  end
  return oldest
end
for q = 0, (#KEYS / ${KEYS_PER_QUEUE}) - 1 do
  local k = q * ${KEYS_PER_QUEUE}
  local jobPrefix = ARGV[q + 2]
  local waiting, waitHead = listLen(KEYS[k + 1])
  local paused, pausedHead = listLen(KEYS[k + 2])
  local oldest = oldestPrioritized(KEYS[k + 3], jobPrefix)
  for _, id in ipairs({ waitHead, pausedHead }) do
    local due = dueAt(jobPrefix, id)
    if due and ((not oldest) or due < oldest) then oldest = due end
  end
  out[#out + 1] = waiting
  out[#out + 1] = paused
  out[#out + 1] = redis.call('ZCARD', KEYS[k + 3])
  out[#out + 1] = redis.call('ZCARD', KEYS[k + 4])
  out[#out + 1] = redis.call('LLEN', KEYS[k + 5])
  out[#out + 1] = redis.call('ZCARD', KEYS[k + 6])
  out[#out + 1] = redis.call('ZCARD', KEYS[k + 7])
  out[#out + 1] = oldest and math.max(0, now - oldest) or 0
end
return out
`;
const SHA = createHash('sha1').update(SCRIPT).digest('hex');
const FIELDS_PER_QUEUE = 8;

function keysFor(prefix: string, queue: string): string[] {
  const base = `${prefix}:${queue}:`;
  return ['wait', 'paused', 'prioritized', 'delayed', 'active', 'failed', 'completed'].map((k) => base + k);
}

/**
 * Reads the counts of every state and the oldest waiting age of the given queues in ONE Redis round trip
 * (EVALSHA; EVAL once per connection when the script cache does not hold it yet).
 */
export async function readQueueStats(redis: RedisClient, prefix: string, queues: readonly string[], nowMs = Date.now()): Promise<QueueStats[]> {
  if (queues.length === 0) return [];
  const keys = queues.flatMap((q) => keysFor(prefix, q));
  const args = [String(nowMs), ...queues.map((q) => `${prefix}:${q}:`)];
  let reply: unknown;
  try {
    reply = await redis.evalsha(SHA, keys.length, ...keys, ...args);
  } catch (err) {
    if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
    reply = await redis.eval(SCRIPT, keys.length, ...keys, ...args);
  }
  const values = (reply as Array<number | string>).map(Number);
  return queues.map((queue, i) => {
    const v = values.slice(i * FIELDS_PER_QUEUE, (i + 1) * FIELDS_PER_QUEUE);
    const at = (n: number) => v[n] ?? 0;
    return {
      queue,
      counts: {
        waiting: at(0),
        paused: at(1),
        prioritized: at(2),
        delayed: at(3),
        active: at(4),
        failed: at(5),
        completed: at(6),
      },
      oldestWaitingAgeSeconds: at(7) / 1000,
    };
  });
}
