import { z } from 'zod';
import type { Config } from '../../config/index.js';
import { roleLimits } from '../../config/sections/sandbox-policy.js';
import type { TaskOptions } from '../../db/tasks.js';
import type { WorkspaceRow } from '../../db/workspaces.js';
import { mcpRuleServer, parseStoredMcpServers } from '../../domain/mcp-servers.js';
import { ApiError, unprocessable } from '../errors.js';

const toolName = z
  .string()
  .min(1)
  .max(200)
  .refine((rule) => mcpRuleServer(rule) !== 'invalid', 'an MCP tool rule is mcp__<server>, mcp__<server>__* or mcp__<server>__<tool>');

/** The POST /api/v1/tasks body; unknown fields are refused. */
export function taskRequestSchema(cfg: Config) {
  return z
    .object({
      workspace_id: z.string().uuid(),
      prompt: z.string().min(1).max(cfg.server.max_prompt_chars, `must be at most ${cfg.server.max_prompt_chars} characters`),
      model: z.string().min(1).max(200).optional(),
      max_turns: z.number().int().min(1).optional(),
      timeout_seconds: z.number().int().min(1).optional(),
      max_budget_usd: z.number().positive().optional(),
      max_output_tokens: z.number().int().positive().optional(),
      permission_mode: z.enum(['default', 'acceptEdits', 'plan', 'bypassPermissions']).optional(),
      allowed_tools: z
        .array(toolName)
        .max(100)
        .describe("Permission rules, e.g. Bash(git *), Write; mcp__<server>, mcp__<server>__* or mcp__<server>__<tool> for the workspace's MCP servers")
        .optional(),
      disallowed_tools: z.array(toolName).max(100).describe('Permission rules the CLI refuses, in the same form as allowed_tools').optional(),
      append_system_prompt: z.string().max(20_000).optional(),
      resources: z
        .object({
          memory_mb: z.number().int().min(64).optional(),
          cpus: z.number().positive().optional(),
          pids: z.number().int().min(16).optional(),
        })
        .strict()
        .optional(),
      resume_from: z.string().uuid().optional(),
      priority: z.number().int().min(0).max(100).optional(),
      webhook_url: z.string().min(1).max(2048).optional(),
      push: z.boolean().optional().describe("Push the work as a branch when the task succeeds (default: the workspace's push.default)"),
      metadata: z.record(z.unknown()).optional(),
    })
    .strict();
}

export type TaskRequest = z.infer<ReturnType<typeof taskRequestSchema>>;

/**
 * Caps from config: a request beyond one is a 422 that names the cap, and nothing is stored. The
 * sandbox.* caps bind every role; limits.roles.<role> caps bind the caller's role (a role without
 * limits of its own gets limits.fallback_role's).
 */
export function checkCaps(req: TaskRequest, cfg: Config, role?: string): void {
  const over = (field: string, value: number | undefined, cap: number, key: string, who = '') => {
    if (value !== undefined && value > cap) throw unprocessable(`${field} ${value} is above the cap of ${cap}${who} (${key})`);
  };
  over('max_turns', req.max_turns, cfg.claude.max_turns_cap, 'claude.max_turns_cap');
  over('timeout_seconds', req.timeout_seconds, cfg.sandbox.max_timeout_seconds, 'sandbox.max_timeout_seconds');
  const res = req.resources;
  over('resources.memory_mb', res?.memory_mb, cfg.sandbox.max_memory_mb, 'sandbox.max_memory_mb');
  over('resources.cpus', res?.cpus, cfg.sandbox.max_cpus, 'sandbox.max_cpus');
  over('resources.pids', res?.pids, cfg.sandbox.max_pids, 'sandbox.max_pids');

  const { role: limitsRole, limits } = roleLimits(cfg.limits, role);
  const who = ` for role ${limitsRole}`;
  const key = (name: string) => `limits.roles.${limitsRole}.${name}`;
  over('timeout_seconds', req.timeout_seconds, limits.max_timeout_seconds, key('max_timeout_seconds'), who);
  over('resources.memory_mb', res?.memory_mb, limits.max_memory_mb, key('max_memory_mb'), who);
  over('resources.cpus', res?.cpus, limits.max_cpus, key('max_cpus'), who);
  over('resources.pids', res?.pids, limits.max_pids, key('max_pids'), who);
  over('max_budget_usd', req.max_budget_usd, limits.max_budget_usd, key('max_budget_usd'), who);
  over('max_output_tokens', req.max_output_tokens, limits.max_output_tokens, key('max_output_tokens'), who);
  over('priority', req.priority, limits.max_priority, key('max_priority'), who);
}

/** The user's cap of queued and running tasks, from the role's limits (limits.roles.<role>.max_concurrent_tasks). */
export function maxActiveTasks(role: string | undefined, cfg: Config): number {
  return roleLimits(cfg.limits, role).limits.max_concurrent_tasks;
}

/** The 429 of a submission refused at the cap: `active` is the user's queued and running tasks it found. */
export function tooManyTasks(active: number, role: string | undefined, cfg: Config): ApiError {
  const { role: limitsRole, limits } = roleLimits(cfg.limits, role);
  const retryAfterSeconds = 5;
  return new ApiError(
    429,
    'Too many tasks',
    `you have ${active} queued or running tasks; the cap for role ${limitsRole} is ${limits.max_concurrent_tasks} (limits.roles.${limitsRole}.max_concurrent_tasks): wait for one to finish`,
    { retry_after: retryAfterSeconds },
    { 'Retry-After': String(retryAfterSeconds) },
  );
}

/** What is stored as the task's options (everything but the prompt, workspace and metadata). */
export function taskOptions(req: TaskRequest): TaskOptions {
  const { workspace_id: _w, prompt: _p, metadata: _m, webhook_url: _h, ...options } = req;
  return options;
}

/** Whether a request names any MCP tool rule (then its workspace's servers are checked against them). */
export function namesMcpTools(req: TaskRequest): boolean {
  return [...(req.allowed_tools ?? []), ...(req.disallowed_tools ?? [])].some((rule) => mcpRuleServer(rule) !== null);
}

/** A rule naming a server the workspace does not have is a 422 that lists the servers it has. */
export function checkMcpToolRules(req: TaskRequest, workspace: WorkspaceRow): void {
  const servers = parseStoredMcpServers(workspace.mcp_servers).map((s) => s.name);
  for (const field of ['allowed_tools', 'disallowed_tools'] as const) {
    (req[field] ?? []).forEach((rule, i) => {
      const server = mcpRuleServer(rule);
      if (server === null || server === 'invalid' || servers.includes(server)) return;
      const has = servers.length === 0 ? 'it has no mcp_servers' : `its mcp_servers are ${servers.join(', ')}`;
      throw unprocessable(`${field}[${i}]: "${rule}" names MCP server "${server}", which this workspace does not have (${has})`);
    });
  }
}
