import type { ClientContext } from '../context.js';
import { ClientError, EXIT, exitCodeForStatus, isTerminalStatus } from '../errors.js';
import { formatDuration } from '../render/format.js';
import { createRenderer, type Renderer } from '../render/renderer.js';
import { followTaskEvents } from '../task-events.js';
import type { TaskJson } from '../types.js';

/**
 * Shows a task's events live until it ends; the exit code says how it ended (0 succeeded, 2 failed,
 * 3 cancelled or timed out). Ctrl-C stops following, not the task, and says how to cancel it.
 */
export async function followTask(ctx: ClientContext, taskId: string, renderer: Renderer = createRenderer(ctx.io)): Promise<number> {
  const interrupt = new AbortController();
  const dispose = ctx.io.onInterrupt(() => interrupt.abort());
  let endStatus: unknown = null;
  try {
    renderer.waiting('connecting');
    const events = followTaskEvents(ctx.api, taskId, {
      signal: interrupt.signal,
      onReconnect: (attempt, delayMs, reason) =>
        renderer.notice(`event stream lost (${reason}); reconnecting in ${formatDuration(delayMs)} (attempt ${attempt})`),
    });
    for await (const event of events) {
      renderer.show(event);
      if (event.type === 'end') endStatus = (event.data as { status?: unknown } | null)?.status ?? null;
    }
  } catch (err) {
    if (!interrupt.signal.aborted) throw err;
    renderer.close();
    ctx.io.stderr.write(`aicli-web: stopped following; task ${taskId} goes on (aicli-web tasks cancel ${taskId} stops it)\n`);
    return EXIT.interrupted;
  } finally {
    renderer.close();
    dispose();
  }
  if (!isTerminalStatus(endStatus)) {
    // An end event without a known status: the task row is the authority.
    const task = await ctx.api.request<TaskJson>('GET', `/api/v1/tasks/${encodeURIComponent(taskId)}`);
    endStatus = task?.status;
    if (!isTerminalStatus(endStatus)) throw new ClientError(`the event stream of task ${taskId} ended while the task is ${String(endStatus)}`);
  }
  return exitCodeForStatus(endStatus);
}
