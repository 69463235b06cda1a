import type { ResultMessage } from '../claude/types.js';



/** The task's `result` as the API shows it, picked from the CLI's final line. */
export function resultSummary(r: ResultMessage): Record<string, unknown> {
  const x = r as Record<string, unknown>;
  return {
    text: typeof x.result === 'string' ? x.result : null,
    is_error: x.is_error === true,
    subtype: x.subtype ?? null,
    num_turns: x.num_turns ?? null,
    total_cost_usd: x.total_cost_usd ?? null,
    usage: x.usage ?? null,
    session_id: x.session_id ?? null,
    duration_ms: x.duration_ms ?? null,
    permission_denials: x.permission_denials ?? [],
  };
}
