import type postgres from 'postgres';

/** Every tool_result text the CLI reported for a task (from its stored `user` stream lines), in order. */
export async function toolResultsOf(sql: postgres.Sql, taskId: string): Promise<string> {
  const rows = await sql<{ payload: any }[]>`
    select payload from task_events where task_id = ${taskId} and type = 'claude' and payload->>'type' = 'user' order by seq`;
  const texts: string[] = [];
  for (const { payload } of rows) {
    for (const block of payload.message?.content ?? []) {
      if (block.type !== 'tool_result') continue;
      const c = block.content;
      texts.push(typeof c === 'string' ? c : (c ?? []).map((x: { text?: string }) => x.text ?? '').join(''));
    }
  }
  return texts.join('\n');
}

/** Waits (bounded) until the task runs and its agent's first stream line is stored: the agent has started. */
export async function waitForAgentStarted(sql: postgres.Sql, taskId: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await sql<{ status: string; agent_lines: number }[]>`
      select status, (select count(*)::int from task_events e where e.task_id = t.id and e.type = 'claude') as agent_lines
      from tasks t where id = ${taskId}`;
    if (row?.status === 'running' && row.agent_lines > 0) return;
    if (Date.now() > deadline) throw new Error(`task ${taskId} has no running agent after ${timeoutMs} ms: ${JSON.stringify(row)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
