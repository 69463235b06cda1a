/** An OAuth2 login that failed; the API answers `{"error": "oauth2: <code>", "message": ...}` with `status`. */
export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 502 | 503,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
