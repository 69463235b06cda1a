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
