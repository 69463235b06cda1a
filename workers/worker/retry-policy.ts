import type { ErrorCode } from '../claude/outcome.js';
import { SandboxError, toSandboxError } from '../sandbox/errors.js';

/**
 * The retry policy, in one table. Only infrastructure faults retry (exponential backoff with jitter, up to
 * queue.attempts); a task's own failures (Claude errors, max turns, budget, OOM, timeout, auth) never do.
 * `countsAsAttempt: false` releases the job without spending one of its attempts (a worker shutting down).
 */
export const FAULT_POLICY = {
  /**
   * Docker engine unreachable, image or runtime missing, container create/start failed: the engine may
   * recover, and another worker (its own engine and image) may not hit it.
   */
  docker: { retry: true, countsAsAttempt: true, errorCode: 'sandbox_error' },
  /** The scratch workspace could not be prepared on the host (git clone, disk). */
  workspace: { retry: true, countsAsAttempt: true, errorCode: 'sandbox_error' },
  /** The workspace source was refused by policy (a blocked address or host): no other attempt would differ. */
  workspace_refused: { retry: false, countsAsAttempt: true, errorCode: 'sandbox_error' },
  /**
   * Postgres refused to store the task's output with a data exception (SQLSTATE class 22) that the
   * sanitiser (src/db/pg-safe.ts) did not prevent: the same output is refused again on any attempt.
   */
  output_rejected: { retry: false, countsAsAttempt: true, errorCode: 'output_rejected' },
  /** The filesystem that holds task scratch is past sandbox.scratch.watchdog_percent: the task would fill it. */
  disk_full: { retry: false, countsAsAttempt: true, errorCode: 'disk_full' },
  /** The model API answered 5xx/529 before producing any output. */
  upstream_unavailable: { retry: true, countsAsAttempt: true, errorCode: 'claude_error' },
  /** The worker holding the job stopped renewing its lock (crash, kill, partition). */
  worker_lost: { retry: true, countsAsAttempt: true, errorCode: 'worker_lost' },
  /** The worker is draining for shutdown and its deadline passed: another worker runs the task. */
  worker_shutdown: { retry: true, countsAsAttempt: false, errorCode: 'worker_lost' },
} as const satisfies Record<string, { retry: boolean; countsAsAttempt: boolean; errorCode: ErrorCode }>;

export type FaultKind = keyof typeof FAULT_POLICY;

/** An infrastructure fault of one attempt; its kind decides retry and error code through FAULT_POLICY. */
export class InfraFault extends Error {
  override readonly name = 'InfraFault';
  constructor(
    readonly kind: FaultKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get errorCode(): ErrorCode {
    return FAULT_POLICY[this.kind].errorCode;
  }
}

/** Upstream statuses that mean the model API itself was unavailable. */
export const isUpstreamUnavailable = (status: number): boolean => status >= 500 || status === 429;

/** Whatever the Docker engine threw, as the fault the policy judges, with the cause and the fix on one line. */
export function sandboxFault(err: unknown, image: string): InfraFault {
  const sandboxErr = err instanceof SandboxError ? err : toSandboxError(err, { image });
  return new InfraFault('docker', sandboxErr.message, { cause: err });
}
