/**
 * An error whose message is already the line a user should read (it names the cause), with what to do
 * about it in `fix`. Front ends show it as it is, without a stack trace.
 */
export abstract class UserFacingError extends Error {
  abstract readonly fix: string | undefined;
}

/** What went wrong with a request in domain terms; the API alone decides which HTTP status each kind is. */
export type DomainErrorKind = 'not_found' | 'conflict' | 'unprocessable';

/** A request the domain refuses: `message` is one sentence for the client. */
export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** `<what> not found`, the wording every missing resource uses. */
export const notFoundError = (what: string) => new DomainError('not_found', `${what} not found`);
