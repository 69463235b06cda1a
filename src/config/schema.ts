import { z } from 'zod';
import { duration } from './duration.js';
import { eventsSection, idempotencySection, schedulesSection, webhooksSection } from './sections/task-control.js';
import { diagnosticsSection, metricsSection } from './sections/ops.js';
import { boolish, fromJsonText, list } from './fields.js';
import { normalizeDomainPattern } from '../net/egress-policy.js';
import { authSection, oauth2Section, rateLimitSection, rbacSection, securitySection } from './sections/identity.js';
import { retentionSection } from './sections/retention.js';
import { cacheSection } from './sections/cache.js';
import { redisSection } from './sections/redis.js';
import { pushSection } from './sections/push.js';
import { egressSection, limitsSection, pricingSection, scratchSection, secretsSection } from './sections/sandbox-policy.js';

// One schema, one set of defaults. Every key is documented in configs/config.example.yml.
// Objects are strict so that a typo in a key is an error that names the key, not a silent default.

const server = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    read_timeout: duration('30s'),
    write_timeout: duration('30s'),
    idle_timeout: duration('120s'),
    body_limit_bytes: z.coerce.number().int().positive().default(1_048_576),
    max_prompt_chars: z.coerce.number().int().positive().default(100_000),
    shutdown_timeout: duration('10s'),
    /**
     * On SIGTERM, how long the API keeps serving with /readyz at 503 before it closes its listener, so a
     * load balancer polling /readyz takes it out of rotation first (a rolling update with no failed
     * request). 0: close at once (a single instance with nothing in front of it).
     */
    drain_delay: duration('0s'),
  })
  .strict()
  .default({});

const database = z
  .object({
    url: z.string().optional(),
    host: z.string().default('127.0.0.1'),
    port: z.coerce.number().int().default(5432),
    user: z.string().default('postgres'),
    password: z.string().default(''),
    database: z.string().default('aicli'),
    ssl_mode: z.enum(['disable', 'prefer', 'require', 'verify-full']).default('disable'),
    max_open_conns: z.coerce.number().int().positive().default(10),
    max_idle_conns: z.coerce.number().int().nonnegative().default(10),
    conn_max_lifetime: duration('1h'),
    conn_max_idle_time: duration('5m'),
    connect_timeout: duration('10s'),
    slow_query_ms: z.coerce.number().int().nonnegative().default(500),
  })
  .strict()
  .default({});

const queue = z
  .object({
    name: z.string().min(1).default('tasks'),
    attempts: z.coerce.number().int().min(1).default(3),
    backoff_delay: duration('2s'),
    lock_duration: duration('60s'),
    stalled_interval: duration('30s'),
    max_stalled_count: z.coerce.number().int().min(0).default(1),
    worker_concurrency: z.coerce.number().int().min(1).default(2),
    reconcile_interval: duration('15s'),
    /** How often the relay delivers task outbox rows that a crash or an outage left undelivered. */
    outbox_interval: duration('1s'),
    /** BullMQ's runRetryDelay: after a failed job fetch (Redis away) the worker tries again this soon (BullMQ's own default is 15 s). */
    fetch_retry_delay: duration('1s'),
  })
  .strict()
  .default({});

const sandbox = z
  .object({
    image: z.string().default(''),
    docker_socket: z.string().default('/var/run/docker.sock'),
    startup_check: boolish(true),
    runtime: z.string().nullable().default(null),
    memory_mb: z.coerce.number().int().min(64).default(2048),
    max_memory_mb: z.coerce.number().int().min(64).default(8192),
    cpus: z.coerce.number().positive().default(1),
    max_cpus: z.coerce.number().positive().default(4),
    pids: z.coerce.number().int().min(16).default(512),
    max_pids: z.coerce.number().int().min(16).default(4096),
    nofile: z.coerce.number().int().min(64).default(4096),
    tmpfs_mb: z.coerce.number().int().min(16).default(512),
    timeout_seconds: z.coerce.number().int().min(1).default(1800),
    max_timeout_seconds: z.coerce.number().int().min(1).default(4 * 3600),
    stop_grace: duration('5s'),
    // Read from the agent's files on the host after the container exits: the most kept of each.
    max_transcript_bytes: z.coerce.number().int().min(1024).default(20 * 1024 * 1024),
    max_diff_bytes: z.coerce.number().int().min(1024).default(5 * 1024 * 1024),
    // What one attempt may store of the agent's output (stream lines and stderr chunks); past either the
    // task is stopped and fails with output_limit.
    max_events_per_task: z.coerce.number().int().min(100, 'sandbox.max_events_per_task must be at least 100').default(20_000),
    max_event_bytes_per_task: z.coerce.number().int().min(65_536, 'sandbox.max_event_bytes_per_task must be at least 65536').default(32 * 1024 * 1024),
    scratch_root: z.string().default('./var/scratch'),
    git_file_root: z.string().nullable().default(null),
    allow_https_git: boolish(true),
    /** https:// git sources may name only these hosts (`*.example.com` covers the names below it); empty: any public host. */
    git_allowed_hosts: list(z.string().refine((h) => normalizeDomainPattern(h) !== null, 'must be a host name or *.domain (no scheme, port or IP address)')).default([]),
    /** Git hosts that may be, or resolve to, loopback or private addresses (an internal mirror; tests); never link-local or metadata. */
    git_allow_private_for_hosts: list(z.string().min(1)).default([]),
    reap_interval: duration('60s'),
    // JSON text from an env override (AICLI__SANDBOX__EXTRA_LABELS='{"team":"a"}'); empty text is no labels.
    extra_labels: z.preprocess((v) => (v === '' ? {} : fromJsonText(v)), z.record(z.string())).default({}),
    egress: egressSection,
    scratch: scratchSection,
  })
  .strict()
  .default({});

const claude = z
  .object({
    // Gone: the CLI is pinned once, by the npm package the image build copies (package-lock.json), and the
    // default image tag carries its version; a second pin here could only disagree with the binary shipped.
    version: z
      .unknown()
      .refine((v) => v === undefined, 'was removed: the claude CLI is the version pinned in package-lock.json (the sandbox image tag carries it); delete the key')
      .optional(),
    model: z.string().default('claude-sonnet-4-5'),
    max_turns: z.coerce.number().int().min(1).default(30),
    max_turns_cap: z.coerce.number().int().min(1).default(200),
    permission_mode: z.enum(['default', 'acceptEdits', 'plan', 'bypassPermissions']).default('bypassPermissions'),
    upstream_base_url: z.string().url().default('https://api.anthropic.com'),
    api_key: z.string().default(''),
    /** Retries the CLI makes of a failed model call (CLAUDE_CODE_MAX_RETRIES). Default 2. */
    max_retries: z.coerce.number().int().min(0, 'claude.max_retries must be 0 or more').optional(),
    /** The guide's name for max_retries; give one of the two. */
    retry_attempts: z.coerce.number().int().min(0, 'claude.retry_attempts must be 0 or more').optional(),
    /**
     * How long the worker's model gateway waits on a silent model API (for the response to start, and
     * between two chunks of it) before it answers the CLI 504. Default 10m: a non-streamed call may think
     * for minutes; the guide's 60s suits streamed calls only.
     */
    timeout: duration('10m'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.max_retries !== undefined && c.retry_attempts !== undefined && c.max_retries !== c.retry_attempts) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['retry_attempts'], message: 'claude.retry_attempts and claude.max_retries name the same setting and disagree: keep one' });
    }
  })
  .transform(({ retry_attempts, ...c }) => ({ ...c, max_retries: c.max_retries ?? retry_attempts ?? 2 }))
  .default({});

const worker = z
  .object({
    id: z.string().nullable().default(null),
    gateway_socket_dir: z.string().default('./var/run'),
    gateway_port: z.coerce.number().int().min(1024).max(65535).default(8787),
    /** Longest model request body the gateway takes (8 MiB: a 1M-token conversation with a few images fits). */
    gateway_max_request_bytes: z.coerce.number().int().min(65_536, 'worker.gateway_max_request_bytes must be at least 65536').default(8 * 1024 * 1024),
    /** Model calls one task may have in the gateway at once; more are answered 429. */
    gateway_max_concurrent_requests_per_task: z.coerce.number().int().min(1, 'worker.gateway_max_concurrent_requests_per_task must be at least 1').default(8),
    /** Event bytes a task may hold in memory while Postgres catches up; past it the sandbox's output is paused. */
    max_buffered_event_bytes: z.coerce.number().int().min(65_536, 'worker.max_buffered_event_bytes must be at least 65536').default(4 * 1024 * 1024),
    metrics_port: z.coerce.number().int().min(0).max(65535).default(9464),
    shutdown_deadline: duration('60s'),
    heartbeat_ttl: duration('30s'),
    /** How often a worker reads the cancel requests of the tasks it runs (the control channel's message may be lost). */
    cancel_poll_interval: duration('2s'),
    /** Warm sandboxes kept started per worker; unset: queue.worker_concurrency; 0: no pool (every sandbox starts cold). */
    pool_size: z.coerce.number().int('worker.pool_size must be a whole number').min(0, 'worker.pool_size must be 0 (no pool) or more').nullable().default(null),
    /**
     * Start `claude` in each warm sandbox before its task (with the pool's default options): a task those serve
     * skips the CLI's start-up; any other execs the CLI at claim as without it. false: always exec at claim.
     */
    pool_prestart_cli: boolish(true),
  })
  .strict()
  .default({});

const logging = z
  .object({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).nullish(),
    format: z.enum(['json', 'pretty']).nullish(),
    output: z.enum(['stdout', 'file']).default('stdout'),
    file_path: z.string().default('/var/log/aicli/app.log'),
    max_size: z.coerce.number().positive().default(100),
    max_backups: z.coerce.number().int().min(0).default(5),
    max_age: z.coerce.number().int().min(0).default(30),
    compress: boolish(false),
    /** When set, the API writes one line per request (with `duration` in ms) here instead of into the main log. */
    access_file_path: z.string().default(''),
  })
  .strict()
  .default({});

export const configSchema = z
  .object({
    environment: z.enum(['development', 'staging', 'production', 'test']).default('development'),
    server,
    database,
    redis: redisSection,
    auth: authSection,
    oauth2: oauth2Section,
    rbac: rbacSection,
    rate_limit: rateLimitSection,
    security: securitySection,
    queue,
    sandbox,
    claude,
    worker,
    logging,
    events: eventsSection,
    idempotency: idempotencySection,
    webhooks: webhooksSection,
    schedules: schedulesSection,
    push: pushSection,
    retention: retentionSection,
    cache: cacheSection,
    metrics: metricsSection,
    diagnostics: diagnosticsSection,
    limits: limitsSection,
    pricing: pricingSection,
    secrets: secretsSection,
  })
  .strict();

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
