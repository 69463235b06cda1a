import type { ServerResponse } from 'node:http';

/**
 * Error types of the Messages API. The gateway answers in the same shape as
 * the upstream so the CLI reacts as it would to the real API (an
 * `authentication_error` surfaces as an auth failure, `api_error` is retried).
 */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

export function anthropicErrorBody(type: AnthropicErrorType, message: string): string {
  return JSON.stringify({ type: 'error', error: { type, message } });
}

/**
 * Ends `res` with an Anthropic-format error. Messages must never contain the
 * task token or the real key. Once headers are out, the only honest signal
 * left is to cut the connection, so the client sees a truncated response.
 */
export function sendAnthropicError(
  res: ServerResponse,
  status: number,
  type: AnthropicErrorType,
  message: string,
  extraHeaders: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = anthropicErrorBody(type, message);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    // Lets operators tell a gateway refusal from an upstream one in traces.
    'x-aicli-gateway-error': type,
    ...extraHeaders,
  });
  res.end(body);
}
