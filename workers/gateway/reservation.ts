import type { Pricing } from './pricing.js';
import type { GatewaySession } from './sessions.js';

// Caps checked against metered spend alone let any number of parallel calls through before the first
// one is billed. So every forwarded call first reserves what it could cost at worst, and a call is
// forwarded only while metered plus reserved spend is under the cap: once the reservations reach it, at
// most the one call that crossed it is out, whatever the concurrency.

export interface Reservation {
  readonly usd: number;
  readonly outputTokens: number;
}

const PER_TOKEN = 1 / 1_000_000;
/** For a body without a usable max_tokens: more than any model may answer, so the reserve is never short. */
const OUTPUT_TOKENS_BOUND = 128_000;
const FREE: Reservation = { usd: 0, outputTokens: 0 };
/** Calls upstream never bills (counting tokens generates none). */
export const COST_FREE_PATHS: ReadonlySet<string> = new Set(['/v1/messages/count_tokens']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parsedBody(body: Buffer): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    return isRecord(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

/**
 * The most a call can cost: all of `max_tokens` as output, and an input of one token per body byte
 * (a token is never shorter than a byte of the text it stands for, and images and documents count far
 * fewer tokens than their base64 bytes), priced at the dearer of the input and cache-write rates.
 */
export function worstCaseOf(pathname: string, body: Buffer, pricing: Pricing): Reservation {
  if (COST_FREE_PATHS.has(pathname)) return FREE;
  const json = parsedBody(body);
  const model = json !== null && typeof json['model'] === 'string' ? json['model'] : null;
  const requested = json?.['max_tokens'];
  const outputTokens = typeof requested === 'number' && Number.isSafeInteger(requested) && requested > 0 ? requested : OUTPUT_TOKENS_BOUND;
  const price = pricing(model);
  const usd = (body.length * Math.max(price.input, price.cache_write) + outputTokens * price.output) * PER_TOKEN;
  return { usd, outputTokens };
}

/** Null while a call may be forwarded; else why not yet (the reservations of calls in flight fill the cap). */
export function reservedUpToCap(session: GatewaySession): string | null {
  if (session.budgetUsd !== null && session.costUsd + session.reservedUsd >= session.budgetUsd) {
    return `calls in flight may spend the rest of max_budget_usd $${session.budgetUsd}; retry when they are done`;
  }
  if (session.maxOutputTokens !== null && session.usage.output_tokens + session.reservedOutputTokens >= session.maxOutputTokens) {
    return `calls in flight may use the rest of max_output_tokens ${session.maxOutputTokens}; retry when they are done`;
  }
  return null;
}

export function reserve(session: GatewaySession, reservation: Reservation): void {
  session.reservedUsd += reservation.usd;
  session.reservedOutputTokens += reservation.outputTokens;
}

/** The call is over: what it really cost is metered by now, so its reserve goes. */
export function release(session: GatewaySession, reservation: Reservation): void {
  session.reservedUsd = Math.max(0, session.reservedUsd - reservation.usd);
  session.reservedOutputTokens = Math.max(0, session.reservedOutputTokens - reservation.outputTokens);
}
