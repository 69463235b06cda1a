// Container labels are the only link between a sandbox and the task attempt it
// runs, so the runner (which writes them) and the reaper (which reads them back)
// share one definition here.

export const SANDBOX_LABEL = {
  managed: 'aicli.managed',
  /** The deployment (redis.key_prefix): a reaper only judges its own deployment's sandboxes. */
  deployment: 'aicli.deployment',
  taskId: 'aicli.task_id',
  attempt: 'aicli.attempt',
  workerId: 'aicli.worker_id',
  /** A warm pool container's slot (`pool_<hex>`): it carries no task label, before or after its claim. */
  poolSlot: 'aicli.pool_slot',
} as const;

export interface SandboxIdentity {
  taskId: string;
  attempt: number;
  workerId: string;
}

/** Labels for a new sandbox; the fixed identity labels win over `extra`. */
export function sandboxLabels(id: SandboxIdentity, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...extra,
    [SANDBOX_LABEL.managed]: 'true',
    [SANDBOX_LABEL.taskId]: id.taskId,
    [SANDBOX_LABEL.attempt]: String(id.attempt),
    [SANDBOX_LABEL.workerId]: id.workerId,
  };
}

/** Labels for a warm pool container: its worker and slot, nothing of any task. */
export function poolLabels(id: { slotId: string; workerId: string }, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, [SANDBOX_LABEL.managed]: 'true', [SANDBOX_LABEL.poolSlot]: id.slotId, [SANDBOX_LABEL.workerId]: id.workerId };
}

/**
 * Reads the identity back; null when a label is missing or malformed. A pool container's holder is its slot
 * (`taskId` is the slot id, attempt 0): its worker keeps it live for as long as the slot exists.
 */
export function parseSandboxLabels(labels: Record<string, string> | undefined): SandboxIdentity | null {
  const slot = labels?.[SANDBOX_LABEL.poolSlot];
  const taskId = slot ?? labels?.[SANDBOX_LABEL.taskId];
  const workerId = labels?.[SANDBOX_LABEL.workerId];
  const attempt = slot !== undefined ? 0 : Number(labels?.[SANDBOX_LABEL.attempt]);
  if (!taskId || workerId === undefined || !Number.isInteger(attempt)) return null;
  return { taskId, attempt, workerId };
}

/** `key=value` strings for the Docker `label` list filter (all must match). */
export function labelFilter(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`);
}
