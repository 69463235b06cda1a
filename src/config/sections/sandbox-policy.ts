import { z } from 'zod';
import { decodeMasterKey, MASTER_KEY_BYTES } from '../../crypto/secret-box.js';
import { duration } from '../duration.js';
import { boolish, fromJsonText, list, ROLE_NAME, ROLE_NAME_MESSAGE } from '../fields.js';

// Sandbox policy: per-role resource caps and budgets, the model price table
// the gateway meters with, master keys for workspace secrets, egress and
// scratch limits. Every key is documented in configs/config.example.yml.

// ---- limits: per-role caps ----------------------------------------------------------------------

export interface RoleLimits {
  max_memory_mb: number;
  max_cpus: number;
  max_pids: number;
  max_timeout_seconds: number;
  /** Cap for a task's max_budget_usd. */
  max_budget_usd: number;
  /** max_budget_usd of a task that names none. */
  default_budget_usd: number;
  /** Cap for a task's max_output_tokens (model output tokens over the whole task). */
  max_output_tokens: number;
  default_max_output_tokens: number;
  /** Queued plus running tasks one user may have; the next submission answers 429. */
  max_concurrent_tasks: number;
  /** Tasks of one user running at once; more wait (delayed at pickup, never failed), so no tenant starves others. */
  max_running_tasks: number;
  /** Tasks of one workspace running at once (same rule). */
  max_running_per_workspace: number;
  /** Highest `priority` (0-100, higher runs sooner) a request of this role may ask for. */
  max_priority: number;
}

export const DEFAULT_ROLE_LIMITS: Record<string, RoleLimits> = {
  admin: {
    max_memory_mb: 8192,
    max_cpus: 4,
    max_pids: 4096,
    max_timeout_seconds: 14_400,
    max_budget_usd: 100,
    default_budget_usd: 10,
    max_output_tokens: 5_000_000,
    default_max_output_tokens: 1_000_000,
    max_concurrent_tasks: 20,
    max_running_tasks: 10,
    max_running_per_workspace: 10,
    max_priority: 100,
  },
  user: {
    max_memory_mb: 4096,
    max_cpus: 2,
    max_pids: 1024,
    max_timeout_seconds: 3600,
    max_budget_usd: 20,
    default_budget_usd: 5,
    max_output_tokens: 2_000_000,
    default_max_output_tokens: 500_000,
    max_concurrent_tasks: 5,
    max_running_tasks: 3,
    max_running_per_workspace: 3,
    max_priority: 60,
  },
  viewer: {
    max_memory_mb: 2048,
    max_cpus: 1,
    max_pids: 512,
    max_timeout_seconds: 1800,
    max_budget_usd: 5,
    default_budget_usd: 1,
    max_output_tokens: 500_000,
    default_max_output_tokens: 100_000,
    max_concurrent_tasks: 1,
    max_running_tasks: 1,
    max_running_per_workspace: 1,
    max_priority: 20,
  },
};

const positive = () => z.coerce.number().positive();
const positiveInt = () => z.coerce.number().int().positive();

/** Every field optional: a role given in config is merged over its built-in defaults (or the fallback role's). */
const roleLimitsPatch = z
  .object({
    max_memory_mb: z.coerce.number().int().min(64).optional(),
    max_cpus: positive().optional(),
    max_pids: z.coerce.number().int().min(16).optional(),
    max_timeout_seconds: positiveInt().optional(),
    max_budget_usd: positive().optional(),
    default_budget_usd: positive().optional(),
    max_output_tokens: positiveInt().optional(),
    default_max_output_tokens: positiveInt().optional(),
    max_concurrent_tasks: positiveInt().optional(),
    max_running_tasks: positiveInt().optional(),
    max_running_per_workspace: positiveInt().optional(),
    max_priority: z.coerce.number().int().min(0).max(100).optional(),
  })
  .strict();

export const limitsSection = z
  .object({
    /** Role whose limits apply to a role that has none of its own. */
    fallback_role: z.string().min(1).default('user'),
    roles: z.preprocess(fromJsonText, z.record(z.string().regex(ROLE_NAME, ROLE_NAME_MESSAGE), roleLimitsPatch)).default({}),
  })
  .strict()
  .default({})
  .transform((given, ctx) => {
    const base = (name: string): RoleLimits => DEFAULT_ROLE_LIMITS[name] ?? DEFAULT_ROLE_LIMITS[given.fallback_role] ?? (DEFAULT_ROLE_LIMITS.user as RoleLimits);
    const roles: Record<string, RoleLimits> = { ...DEFAULT_ROLE_LIMITS };
    for (const [name, patch] of Object.entries(given.roles)) {
      const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
      roles[name] = { ...base(name), ...defined };
    }
    for (const [name, limits] of Object.entries(roles)) {
      if (limits.default_budget_usd > limits.max_budget_usd) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['roles', name, 'default_budget_usd'], message: 'must not exceed max_budget_usd' });
      }
      if (limits.default_max_output_tokens > limits.max_output_tokens) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['roles', name, 'default_max_output_tokens'], message: 'must not exceed max_output_tokens' });
      }
    }
    if (!(given.fallback_role in roles)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['fallback_role'], message: `role "${given.fallback_role}" has no limits (add limits.roles.${given.fallback_role})` });
    }
    return { fallback_role: given.fallback_role, roles };
  });

export type LimitsConfig = z.output<typeof limitsSection>;

/** The limits of a role, or of the fallback role for one that has none. */
export function roleLimits(limits: LimitsConfig, role: string | undefined): { role: string; limits: RoleLimits } {
  const own = role === undefined ? undefined : limits.roles[role];
  if (own !== undefined && role !== undefined) return { role, limits: own };
  return { role: limits.fallback_role, limits: limits.roles[limits.fallback_role] as RoleLimits };
}

// ---- pricing: what the gateway charges a task's budget ------------------------------------------

/** USD per million tokens. */
const modelPrice = z
  .object({
    input: z.coerce.number().min(0),
    output: z.coerce.number().min(0),
    cache_write: z.coerce.number().min(0),
    cache_read: z.coerce.number().min(0),
  })
  .strict();

export type ModelPrice = z.output<typeof modelPrice>;

/** Public list prices; a model is priced by the longest key that prefixes its name. */
export const DEFAULT_MODEL_PRICES: Record<string, ModelPrice> = {
  'claude-opus-4-5': { input: 5, output: 25, cache_write: 6.25, cache_read: 0.5 },
  'claude-opus-4': { input: 15, output: 75, cache_write: 18.75, cache_read: 1.5 },
  'claude-sonnet-4': { input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
  'claude-haiku-4-5': { input: 1, output: 5, cache_write: 1.25, cache_read: 0.1 },
  'claude-3-5-haiku': { input: 0.8, output: 4, cache_write: 1, cache_read: 0.08 },
};

export const pricingSection = z
  .object({
    /** Replaces the built-in table entry by entry (a model named here wins over the built-in one). */
    models: z.preprocess(fromJsonText, z.record(z.string().min(1), modelPrice)).default({}),
    /** For a model no key prefixes: the dearest built-in price, so an unknown model never runs cheap. */
    default: modelPrice.default(DEFAULT_MODEL_PRICES['claude-opus-4'] as ModelPrice),
  })
  .strict()
  .default({})
  .transform((given) => ({ models: { ...DEFAULT_MODEL_PRICES, ...given.models }, default: given.default }));

export type PricingConfig = z.output<typeof pricingSection>;

// ---- secrets: master keys for workspace secrets -------------------------------------------------

const masterKeyText = z.string().refine((v) => v === '' || decodeMasterKey(v) !== null, {
  message: `must be base64 of ${MASTER_KEY_BYTES} random bytes (openssl rand -base64 32)`,
});

export const secretsSection = z
  .object({
    /** Seals new workspace secrets (AES-256-GCM); empty: workspace API keys cannot be stored. */
    master_key: masterKeyText.default(''),
    /** Stored with every ciphertext; give a new key a new id when rotating. */
    master_key_id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)').default('k1'),
    /** id → base64 key of earlier master keys, still used to open secrets sealed with them. */
    previous_master_keys: z.preprocess(fromJsonText, z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), masterKeyText)).default({}),
  })
  .strict()
  .default({});

// ---- sandbox.egress and sandbox.scratch ---------------------------------------------------------

export const egressSection = z
  .object({
    /** Loopback port inside the sandbox where socat forwards to the task's egress proxy socket. */
    proxy_port: z.coerce.number().int().min(1024).max(65535).default(8788),
    /** Ports an allowlisted host may be reached on. */
    allowed_ports: list(z.coerce.number().int().min(1).max(65535)).default([443, 80]),
    /**
     * Host names whose addresses may be loopback or private (RFC 1918, CGNAT, ULA): an internal
     * mirror, or tests on loopback. Link-local and metadata addresses stay refused for every host.
     */
    allow_private_for_hosts: list(z.string().min(1)).default([]),
    /** Fixed addresses for host names, looked up before DNS (like /etc/hosts, for the proxy only). */
    static_hosts: z.preprocess(fromJsonText, z.record(z.string().min(1), list(z.string().ip()))).default({}),
    /** Most domains one workspace's allowlist may hold. */
    max_domains: z.coerce.number().int().min(1).max(1000).default(50),
    /** Time to open the upstream connection. */
    connect_timeout: duration('10s'),
  })
  .strict()
  .default({});

export const scratchSection = z
  .object({
    /**
     * How each task attempt's scratch dir is capped. `loop`: a sparse ext4 image of size_mb under
     * image_dir, loop-mounted nosuid,nodev (needs root and loop devices; uses host disk, at most size_mb);
     * `tmpfs`: a size-capped tmpfs (needs root; counts against host memory); `none`: a plain directory
     * with no size cap, refused unless allow_uncapped is true.
     */
    mode: z.enum(['loop', 'tmpfs', 'none']).default('loop'),
    /** Size of one attempt's scratch (workspace, CLI state, diff baseline). */
    size_mb: z.coerce.number().int().min(16).default(1024),
    /** Where loop mode keeps its image files (one per attempt); empty: `<scratch_root>/.images`. */
    image_dir: z.string().default(''),
    /** Lets `mode: none` start: a task can then fill the disk that holds scratch_root. */
    allow_uncapped: boolish(false),
    /** A running task is stopped with disk_full once its scratch filesystem is fuller than this; 100: never. */
    watchdog_percent: z.coerce.number().int().min(1).max(100).default(95),
    /** How often the disk watchdog looks at a running task's scratch filesystem. */
    watchdog_interval: duration('5s'),
  })
  .strict()
  .default({});
