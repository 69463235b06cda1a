import type { Pricing } from './pricing.js';
import type { GatewaySession } from './sessions.js';

// A reservation keeps parallel calls from passing a cap, but the one call that is forwarded may still
// ask for far more output than the task has left (max_tokens 200 000 on a $1 budget is $3 of output).
// So its max_tokens is lowered to what the rest of the budget and of max_output_tokens can pay for:
// the most any task can then overspend is that last call's input, which the gateway cannot know in
// advance without refusing calls a real task needs.

const PER_TOKEN = 1 / 1_000_000;
/** The Messages API's floor for `thinking.budget_tokens`; `max_tokens` must stay above it. */
const MIN_THINKING_BUDGET_TOKENS = 1_024;

export type ClampedBody =
  | {
      readonly kind: 'forward';
      readonly body: Buffer;
      /** The max_tokens the call asked for, when it was lowered; null when the body goes out as it came. */
      readonly requestedMaxTokens: number | null;
      readonly maxTokens: number | null;
    }
  /** What is left of the caps cannot pay for a single output token. */
  | { readonly kind: 'no_room' };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Output tokens the task may still pay for (budget and token cap, less what calls in flight reserved; may be 0); null: no cap. */
export function outputTokensLeft(session: GatewaySession, outputPricePerMTok: number): number | null {
  let left: number | null = null;
  if (session.budgetUsd !== null && outputPricePerMTok > 0) {
    const usdLeft = session.budgetUsd - session.costUsd - session.reservedUsd;
    left = Math.floor(usdLeft / (outputPricePerMTok * PER_TOKEN));
  }
  if (session.maxOutputTokens !== null) {
    const tokensLeft = session.maxOutputTokens - session.usage.output_tokens - session.reservedOutputTokens;
    left = left === null ? tokensLeft : Math.min(left, tokensLeft);
  }
  return left;
}

/**
 * The body to forward: as it came, or with `max_tokens` lowered to what the task has left. With
 * extended thinking on, `max_tokens` stays above the API's thinking floor and the thinking budget
 * below it, so the call is still valid (the overshoot that allows is at most 1 025 tokens).
 */
export function clampMaxTokens(pathname: string, body: Buffer, session: GatewaySession, pricing: Pricing, costFreePaths: ReadonlySet<string>): ClampedBody {
  const unchanged = { kind: 'forward', body, requestedMaxTokens: null, maxTokens: null } as const;
  if (costFreePaths.has(pathname)) return unchanged;
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return unchanged;
  }
  if (!isRecord(json)) return unchanged;
  const requested = json['max_tokens'];
  if (typeof requested !== 'number' || !Number.isSafeInteger(requested) || requested <= 0) return unchanged;
  const model = typeof json['model'] === 'string' ? json['model'] : null;
  const left = outputTokensLeft(session, pricing(model).output);
  if (left === null || requested <= left) return { ...unchanged, maxTokens: requested };
  if (left < 1) return { kind: 'no_room' };

  let maxTokens = left;
  const thinking = json['thinking'];
  if (isRecord(thinking) && thinking['type'] === 'enabled' && typeof thinking['budget_tokens'] === 'number') {
    maxTokens = Math.max(maxTokens, MIN_THINKING_BUDGET_TOKENS + 1);
    const thinkingBudget = Math.max(MIN_THINKING_BUDGET_TOKENS, Math.min(thinking['budget_tokens'], maxTokens - 1));
    json['thinking'] = { ...thinking, budget_tokens: thinkingBudget };
  }
  if (maxTokens >= requested) return { ...unchanged, maxTokens: requested };
  json['max_tokens'] = maxTokens;
  return { kind: 'forward', body: Buffer.from(JSON.stringify(json), 'utf8'), requestedMaxTokens: requested, maxTokens };
}
