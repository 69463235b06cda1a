import { createHash, randomBytes } from 'node:crypto';
import { costOf, type Pricing } from './pricing.js';
import { addUsage, emptyUsage, type Usage, type UsageListener } from './usage.js';

/** Live metering of one task's model traffic. The worker reads it; the gateway writes it. */
export interface GatewaySession {
  taskId: string;
  token: string;
  usage: Usage;
  /** Keyed by the model named in the response (`unknown` when it names none). */
  models: Record<string, Usage>;
  upstreamErrors: Array<{ status: number; at: number }>;
  /** Response body bytes sent to the sandbox. */
  bytesOut: number;
  /** Epoch ms of the first response body byte sent to the sandbox. */
  firstOutputAt: number | null;
  /** USD of every metered response, priced with the gateway's table (the figure budgets are enforced on). */
  costUsd: number;
  /** The task's spending cap in USD; null: none. */
  budgetUsd: number | null;
  /** The task's cap on model output tokens over all its requests; null: none. */
  maxOutputTokens: number | null;
  /** Set once a call was refused because a cap was reached; every later call is refused too. */
  budgetExceeded: boolean;
  /** Which cap was reached first. */
  limitHit: 'max_budget_usd' | 'max_output_tokens' | null;
  /** Epoch ms of the first refusal. */
  budgetExceededAt: number | null;
  /** Calls refused (never forwarded) because a cap was reached. */
  refusedRequests: number;
  /** Calls of this task the gateway holds now, from the first body byte until the upstream answer is read to its end. */
  inFlightRequests: number;
  /** Worst-case USD of the calls forwarded and not yet finished (see reservation.ts). */
  reservedUsd: number;
  /** Worst-case output tokens (their max_tokens) of the calls forwarded and not yet finished. */
  reservedOutputTokens: number;
}

export interface OpenSessionInput {
  taskId: string;
  /** The real upstream key; kept here and only ever written to the upstream request. */
  apiKey: string;
  onUsage?: UsageListener;
  /** Refuse further model calls once this much USD is spent; null or absent: no cap. */
  budgetUsd?: number | null;
  /** Refuse further model calls once this many output tokens were used; null or absent: no cap. */
  maxOutputTokens?: number | null;
  /**
   * A token chosen before the task was known (a warm sandbox's CLI started with it); unknown to the gateway,
   * and so refused, until this session binds it. Default: a fresh one.
   */
  token?: string;
}

/** What a request needs once its token checks out. */
export interface SessionEntry {
  readonly session: GatewaySession;
  readonly apiKey: string;
  readonly onUsage: UsageListener | undefined;
}

export const TASK_TOKEN_PREFIX = 'aicli-task-';
export const UNKNOWN_MODEL = 'unknown';
const TASK_TOKEN = /^aicli-task-[A-Za-z0-9_-]{43}$/;

/** 'aicli-task-' + 32 random bytes base64url: what every session's token looks like. */
export function newTaskToken(): string {
  return TASK_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * Tokens are looked up by their SHA-256 digest, so how long a lookup takes
 * says nothing about how much of a guessed token was right.
 */
function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export class SessionRegistry {
  readonly #byDigest = new Map<string, SessionEntry>();

  get size(): number {
    return this.#byDigest.size;
  }

  open(input: OpenSessionInput): GatewaySession {
    if (input.taskId === '') throw new Error('openSession: taskId must not be empty');
    if (input.apiKey === '') throw new Error('openSession: apiKey must not be empty');
    const budgetUsd = input.budgetUsd ?? null;
    if (budgetUsd !== null && !(Number.isFinite(budgetUsd) && budgetUsd > 0)) throw new Error('openSession: budgetUsd must be a positive number');
    const maxOutputTokens = input.maxOutputTokens ?? null;
    if (maxOutputTokens !== null && !(Number.isSafeInteger(maxOutputTokens) && maxOutputTokens > 0)) {
      throw new Error('openSession: maxOutputTokens must be a positive integer');
    }
    const token = input.token ?? newTaskToken();
    if (!TASK_TOKEN.test(token)) throw new Error('openSession: token must be a task token (newTaskToken())');
    if (this.#byDigest.has(digest(token))) throw new Error('openSession: token is bound to another session');
    const session: GatewaySession = {
      taskId: input.taskId,
      token,
      usage: emptyUsage(),
      // No prototype: model names come from upstream responses and must not reach Object.prototype.
      models: Object.create(null) as Record<string, Usage>,
      upstreamErrors: [],
      bytesOut: 0,
      firstOutputAt: null,
      costUsd: 0,
      budgetUsd,
      maxOutputTokens,
      budgetExceeded: false,
      limitHit: null,
      budgetExceededAt: null,
      refusedRequests: 0,
      inFlightRequests: 0,
      reservedUsd: 0,
      reservedOutputTokens: 0,
    };
    this.#byDigest.set(digest(token), { session, apiKey: input.apiKey, onUsage: input.onUsage });
    return session;
  }

  /** Afterwards the token is refused; requests already in flight finish and still count. */
  close(token: string): GatewaySession | undefined {
    const key = digest(token);
    const entry = this.#byDigest.get(key);
    this.#byDigest.delete(key);
    return entry?.session;
  }

  get(token: string): GatewaySession | undefined {
    return this.#byDigest.get(digest(token))?.session;
  }

  resolve(token: string): SessionEntry | undefined {
    return this.#byDigest.get(digest(token));
  }
}

/** Adds a usage delta to the session totals, to its model's totals and to its cost. */
export function recordUsage(session: GatewaySession, delta: Usage, model: string | null, pricing: Pricing): void {
  addUsage(session.usage, delta);
  const key = model ?? UNKNOWN_MODEL;
  const perModel = (session.models[key] ??= emptyUsage());
  addUsage(perModel, delta);
  session.costUsd += costOf(delta, pricing(model));
}

/**
 * Null while the task may call the model; else the reason it may not, for
 * good: the metered spend itself has reached a cap. Calls in flight are held
 * in check by their reservations (reservation.ts), so spend overshoots a cap
 * by at most the one call that crossed it.
 */
/**
 * The budget cap once what is left of it cannot pay for one output token (a call clamped to it would
 * go out asking for nothing): reached as surely as if it were spent to the cent.
 */
export function budgetSpent(session: GatewaySession): CapReached {
  return {
    limit: 'max_budget_usd',
    message: `task budget exhausted: spent $${session.costUsd.toFixed(4)} of max_budget_usd $${session.budgetUsd ?? 0}, too little left for one more output token; no further model calls for this task`,
  };
}

export interface CapReached {
  limit: 'max_budget_usd' | 'max_output_tokens';
  message: string;
}

export function capReached(session: GatewaySession): CapReached | null {
  if (session.budgetUsd !== null && session.costUsd >= session.budgetUsd) {
    return {
      limit: 'max_budget_usd',
      message: `task budget exhausted: spent $${session.costUsd.toFixed(4)} of max_budget_usd $${session.budgetUsd}; no further model calls for this task`,
    };
  }
  if (session.maxOutputTokens !== null && session.usage.output_tokens >= session.maxOutputTokens) {
    return {
      limit: 'max_output_tokens',
      message: `task output token cap reached: ${session.usage.output_tokens} of max_output_tokens ${session.maxOutputTokens}; no further model calls for this task`,
    };
  }
  return null;
}
