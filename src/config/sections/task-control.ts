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
