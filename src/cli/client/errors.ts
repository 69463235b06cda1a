/** Exit codes of the terminal client (documented in `aicli-web submit --help` and the README). */
export const EXIT = {
  ok: 0,
  /** Usage errors, connection errors, API errors. */
  error: 1,
  /** The task ended `failed`. */
  failed: 2,
  /** The task ended `cancelled` or `timed_out`. */
  stopped: 3,
  /** The user pressed Ctrl-C. */
  interrupted: 130,
} as const;

/** An error whose message is already the one line the user should read. */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export { toError } from '../../util/to-error.js';

// One list of statuses for the server and this client (the domain layer imports nothing else).
export { isTerminalStatus } from '../../domain/task-status.js';
import type { TerminalStatus } from '../../domain/task-status.js';

/** `submit --follow` and `tasks follow`: 0 succeeded, 2 failed, 3 cancelled or timed out. */
export function exitCodeForStatus(status: TerminalStatus): number {
  switch (status) {
    case 'succeeded':
      return EXIT.ok;
    case 'failed':
      return EXIT.failed;
    case 'cancelled':
    case 'timed_out':
      return EXIT.stopped;
    default: {
      const never: never = status;
      throw new Error(`unknown status ${String(never)}`);
    }
  }
}
