import { ClientError, EXIT, toError } from './errors.js';
import type { ClientIo } from './io.js';

/**
 * Runs a client command: its result is the exit code; an error is one line `aicli-web: <message>` on
 * stderr (never a stack trace) and exit code 1 unless the error carries another.
 */
export async function runClientCommand(io: ClientIo, body: () => Promise<number> | number): Promise<number> {
  try {
    return await body();
  } catch (err) {
    const e = toError(err);
    io.stderr.write(`aicli-web: ${e instanceof ClientError ? e.message : `unexpected error: ${e.message}`}\n`);
    return e instanceof ClientError ? e.exitCode : EXIT.error;
  }
}
