import { z } from 'zod';
import { boolish } from '../fields.js';


/** Prometheus: /metrics on the API, and the worker's ops listener (/metrics, /healthz, /readyz on worker.metrics_port). */
export const metricsSection = z
  .object({
    enabled: boolish(true),
    /** When set, /metrics answers only `Authorization: Bearer <token>` (Prometheus `authorization.credentials`). */
    bearer_token: z.string().default(''),
    /** ENVIRONMENT=production refuses to start without bearer_token unless this says /metrics may be open. */
    allow_anonymous: boolish(false),
    /** The worker's ops listener; 0.0.0.0 in a container so Prometheus and kubelet probes reach it. */
    worker_host: z.string().default('127.0.0.1'),
    /** Node process metrics: event-loop lag, heap, GC, resident memory, open handles. */
    default_metrics: boolish(true),
    /** Upper bound for reading the queue gauges at scrape time; a slower Redis reports no gauges for that scrape. */
    queue_scrape_timeout_ms: z.coerce.number().int().min(50).default(2000),
  })
  .strict()
  .default({});

/** Heap snapshots and CPU profiles over HTTP; off by default and bound to loopback. */
export const diagnosticsSection = z
  .object({
    enabled: boolish(false),
    host: z.string().default('127.0.0.1'),
    port: z.coerce.number().int().min(0).max(65535).default(6060),
    /** Required when enabled: requests carry `Authorization: Bearer <token>` (32+ characters). */
    token: z.string().default(''),
    max_profile_seconds: z.coerce.number().int().min(1).max(600).default(60),
  })
  .strict()
  .default({});
