import { createHash, randomBytes } from 'node:crypto';
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
}

export interface OpenSessionInput {
  taskId: string;
  /** The real upstream key; kept here and only ever written to the upstream request. */
  apiKey: string;
  onUsage?: UsageListener;
}

/** What a request needs once its token checks out. */
export interface SessionEntry {
  readonly session: GatewaySession;
  readonly apiKey: string;
  readonly onUsage: UsageListener | undefined;
}

export const TASK_TOKEN_PREFIX = 'aicli-task-';
export const UNKNOWN_MODEL = 'unknown';

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
    const token = TASK_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const session: GatewaySession = {
      taskId: input.taskId,
      token,
      usage: emptyUsage(),
      // No prototype: model names come from upstream responses and must not reach Object.prototype.
      models: Object.create(null) as Record<string, Usage>,
      upstreamErrors: [],
      bytesOut: 0,
      firstOutputAt: null,
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

/** Adds a usage delta to the session totals and to its model's totals. */
export function recordUsage(session: GatewaySession, delta: Usage, model: string | null): void {
  addUsage(session.usage, delta);
  const key = model ?? UNKNOWN_MODEL;
  const perModel = (session.models[key] ??= emptyUsage());
  addUsage(perModel, delta);
}
