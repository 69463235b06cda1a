import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface ReceivedHook {
  headers: IncomingMessage['headers'];
  body: string;
  answeredWith: number;
}

/** A loopback webhook receiver that fails the first `failFirst` deliveries of each task with 500. */
export async function startWebhookReceiver(failFirst = 0): Promise<{ url: string; received: ReceivedHook[]; close(): Promise<void> }> {
  const received: ReceivedHook[] = [];
  const triesByTask = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let taskId = 'unknown';
      try {
        taskId = (JSON.parse(body) as { task: { id: string } }).task.id;
      } catch {
        // keep 'unknown'
      }
      const tries = (triesByTask.get(taskId) ?? 0) + 1;
      triesByTask.set(taskId, tries);
      const status = tries <= failFirst ? 500 : 204;
      received.push({ headers: req.headers, body, answeredWith: status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hooks/aicli`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
