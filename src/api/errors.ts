import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import { DomainError, type DomainErrorKind } from '../domain/errors.js';
import { localizeMessage, localizeTitle, preferredLocale } from './i18n.js';

/** Every error a client sees: a status, a short title (`error`) and one sentence (`message`). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly title: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new ApiError(400, 'Invalid request', message);
export const unauthorized = (message: string) => new ApiError(401, 'Unauthorized', message, {}, { 'WWW-Authenticate': 'Bearer' });
export const invalidToken = (message: string) => new ApiError(401, 'Invalid token', message, {}, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
export const notFound = (what: string) => new ApiError(404, 'Not found', `${what} not found`);
export const conflict = (message: string) => new ApiError(409, 'Conflict', message);
export const unprocessable = (message: string) => new ApiError(422, 'Unprocessable request', message);
/** 403 for granting what the caller does not hold (a role's permissions, a role to assign, an API key's scopes). */
export const permissionEscalation = (permission: string) =>
  new ApiError(403, 'Permission escalation refused', `cannot grant ${permission}: you do not hold it yourself`);
export const unavailable = (message: string, extra: Record<string, unknown> = {}) =>
  new ApiError(503, 'Service unavailable', message, extra, { 'Retry-After': '5' });

/** The one place a domain refusal gets its HTTP status and title. */
export function fromDomainError(err: DomainError): ApiError {
  const toApiError: Record<DomainErrorKind, (message: string) => ApiError> = {
    not_found: (message) => new ApiError(404, 'Not found', message),
    conflict,
    unprocessable,
  };
  return toApiError[err.kind](err.message);
}

/** The one place that renders errors; unknown errors become a 500 without a stack trace or internals. */
export function renderError(thrown: Error, c: Context, logger: Logger): Response {
  const err = thrown instanceof DomainError ? fromDomainError(thrown) : thrown;
  // English by default, Korean when Accept-Language prefers it (src/api/i18n.ts).
  const locale = preferredLocale(c.req.header('accept-language'));
  c.header('Content-Language', locale);
  c.header('Vary', 'Accept-Language', { append: true });
  const text = (title: string, message: string) => ({ error: localizeTitle(title, locale), message: localizeMessage(message, locale) });
  if (err instanceof ApiError) {
    for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    return c.json({ ...text(err.title, err.message), ...err.extra }, err.status);
  }
  const status = (err as { status?: unknown }).status;
  if (typeof status === 'number' && status === 413) {
    return c.json(text('Payload too large', 'request body is larger than server.body_limit_bytes'), 413);
  }
  logger.error({ err, route: c.req.routePath, method: c.req.method }, 'unhandled error in request');
  return c.json(text('Internal server error', 'the server failed to handle this request; see the server log'), 500);
}
