import { z } from 'zod';
import type { Config } from '../../config/index.js';
import type { TaskOptions } from '../../db/tasks.js';
import { unprocessable } from '../errors.js';

const toolName = z.string().min(1).max(200);

/** The POST /api/v1/tasks body (DESIGN.md); unknown fields are refused. */
export function taskRequestSchema(cfg: Config) {
  return z
    .object({
      workspace_id: z.string().uuid(),
      prompt: z.string().min(1).max(cfg.server.max_prompt_chars, `must be at most ${cfg.server.max_prompt_chars} characters`),
      model: z.string().min(1).max(200).optional(),
      max_turns: z.number().int().min(1).optional(),
      timeout_seconds: z.number().int().min(1).optional(),
      max_budget_usd: z.number().positive().optional(),
      permission_mode: z.enum(['default', 'acceptEdits', 'plan', 'bypassPermissions']).optional(),
      allowed_tools: z.array(toolName).max(100).optional(),
      disallowed_tools: z.array(toolName).max(100).optional(),
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
      webhook_url: z.string().min(1).max(2048).optional(),
      metadata: z.record(z.unknown()).optional(),
    })
    .strict();
}

export type TaskRequest = z.infer<ReturnType<typeof taskRequestSchema>>;

/** Caps from config: a request beyond one is a 422 that names the cap, and nothing is stored. */
export function checkCaps(req: TaskRequest, cfg: Config): void {
  const over = (field: string, value: number, cap: number, key: string) => {
    if (value > cap) throw unprocessable(`${field} ${value} is above the cap of ${cap} (${key})`);
  };
  if (req.max_turns !== undefined) over('max_turns', req.max_turns, cfg.claude.max_turns_cap, 'claude.max_turns_cap');
  if (req.timeout_seconds !== undefined) {
    over('timeout_seconds', req.timeout_seconds, cfg.sandbox.max_timeout_seconds, 'sandbox.max_timeout_seconds');
  }
  const res = req.resources;
  if (res?.memory_mb !== undefined) over('resources.memory_mb', res.memory_mb, cfg.sandbox.max_memory_mb, 'sandbox.max_memory_mb');
  if (res?.cpus !== undefined) over('resources.cpus', res.cpus, cfg.sandbox.max_cpus, 'sandbox.max_cpus');
  if (res?.pids !== undefined) over('resources.pids', res.pids, cfg.sandbox.max_pids, 'sandbox.max_pids');
}

/** What is stored as the task's options (everything but the prompt, workspace and metadata). */
export function taskOptions(req: TaskRequest): TaskOptions {
  const { workspace_id: _w, prompt: _p, metadata: _m, webhook_url: _h, ...options } = req;
  return options;
}
