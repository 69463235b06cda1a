import { z } from 'zod';
import { duration } from '../duration.js';
import { boolish, list } from '../fields.js';

/** Live events (SSE) on the API. */
export const eventsSection = z
  .object({
    heartbeat: duration('15s'),
    page_size: z.coerce.number().int().min(1).max(5000).default(500),
    /** Events queued for one slow SSE client before it is dropped (it resumes by Last-Event-ID). */
    max_client_backlog: z.coerce.number().int().min(10).default(2000),
  })
  .strict()
  .default({});

export const idempotencySection = z
  .object({
    ttl: duration('24h'),
  })
  .strict()
  .default({});

export const webhooksSection = z
  .object({
    attempts: z.coerce.number().int().min(1).default(6),
    backoff_delay: duration('1s'),
    timeout: duration('10s'),
    /** Host names or IP literals exempt from the private-address guard (tests list 127.0.0.1). */
    allowed_hosts: list(z.string()).default([]),
    allow_http: boolish(false),
  })
  .strict()
  .default({});

/** Scheduled tasks (POST /api/v1/schedules): cron lines whose ticks the API processes turn into tasks. */
export const schedulesSection = z
  .object({
    /** Whether this API process takes schedule ticks off the queue (any number may; each tick makes one task). */
    enabled: boolish(true),
    /** How often the job schedulers in Redis are checked against the rows in Postgres (and remade). */
    sync_interval: duration('1m'),
    /** Schedules one user may have. */
    max_per_user: z.coerce.number().int().min(1, 'schedules.max_per_user must be at least 1').default(50),
    /** Shortest time between two ticks a cron line may ask for. */
    min_interval: duration('1s'),
    /** Runs kept per schedule (GET shows the latest); older ones are removed, but none of the last day. */
    runs_kept: z.coerce.number().int().min(1, 'schedules.runs_kept must be at least 1').default(100),
  })
  .strict()
  .default({});
