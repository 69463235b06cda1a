// bench/load-client: a load generator in a process of its own, so a benchmark's figures are the server's alone
// (its CPU and its throughput), not shared with an HTTP client in the same event loop. Run by `loadClient()`
// (child_process.fork); each `run` message is answered with the results of one bounded run.
//
// It speaks just enough HTTP/1.1 for GET with keep-alive: one prepared request per connection, written again
// as soon as the previous answer is complete (no pipelining), answers read by Content-Length. Anything else
// (chunked answers, a closed connection, another status than expected) fails the run loudly. Its own cost per
// request is a write and a small parse, far below Node's http client, so at the concurrency used here the
// server, not this process, is what saturates.
import { fork, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface LoadRun {
  port: number;
  path: string;
  headers: Record<string, string>;
  /** Requests in all, spread over the connections. */
  requests: number;
  connections: number;
  expectStatus: number;
}

export interface LoadResult {
  requests: number;
  wallMs: number;
  /** Per-request latency in ms (write of the request to the end of the answer), in completion order. */
  latencies: number[];
}

type Message = { id: number; run: LoadRun } | { id: number; stop: true };
type Reply = { id: number; result?: LoadResult; error?: string };

const HEADER_END = Buffer.from('\r\n\r\n');

/** One connection's loop: `count` requests one after another. */
function drive(run: LoadRun, count: number, latencies: number[]): Promise<void> {
  const head = [`GET ${run.path} HTTP/1.1`, `Host: 127.0.0.1:${run.port}`, 'Connection: keep-alive', ...Object.entries(run.headers).map(([k, v]) => `${k}: ${v}`)];
  const request = Buffer.from(`${head.join('\r\n')}\r\n\r\n`);
  return new Promise((resolve, reject) => {
    if (count === 0) return resolve();
    const socket: Socket = connect({ host: '127.0.0.1', port: run.port, noDelay: true });
    let buffered: Buffer = Buffer.alloc(0);
    let done = 0;
    let sentAt = 0;
    const fail = (message: string) => {
      socket.destroy();
      reject(new Error(`${run.path}: ${message}`));
    };
    const send = () => {
      sentAt = performance.now();
      socket.write(request);
    };
    socket.on('connect', send);
    socket.on('error', (err) => fail(err.message));
    socket.on('close', () => {
      if (done < count) fail(`connection closed after ${done} of ${count} answers`);
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      const end = buffered.indexOf(HEADER_END);
      if (end === -1) return;
      const header = buffered.subarray(0, end).toString('latin1');
      const status = Number(header.slice(9, 12));
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(header);
      if (!length) return fail(`answer without Content-Length (status ${status})`);
      const total = end + HEADER_END.length + Number(length[1]);
      if (buffered.length < total) return;
      if (buffered.length > total) return fail('more bytes than one answer (the server answered twice?)');
      if (status !== run.expectStatus) return fail(`answered ${status}, expected ${run.expectStatus}`);
      latencies.push(performance.now() - sentAt);
      buffered = Buffer.alloc(0);
      if (++done === count) {
        socket.end();
        resolve();
      } else send();
    });
  });
}

async function runLoad(run: LoadRun): Promise<LoadResult> {
  const latencies: number[] = [];
  const started = performance.now();
  const per = Math.floor(run.requests / run.connections);
  const extra = run.requests % run.connections;
  await Promise.all(Array.from({ length: run.connections }, (_, i) => drive(run, per + (i < extra ? 1 : 0), latencies)));
  return { requests: latencies.length, wallMs: performance.now() - started, latencies };
}

/** The parent's handle on a forked load client. */
export interface LoadClient {
  run(run: LoadRun): Promise<LoadResult>;
  close(): Promise<void>;
}

export function loadClient(): LoadClient {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let nextId = 0;
  const pending = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();
  child.on('message', (reply: Reply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (reply.error || !reply.result) p.reject(new Error(reply.error ?? 'load client answered nothing'));
    else p.resolve(reply.result);
  });
  child.on('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`load client exited (${code})`));
    pending.clear();
  });
  return {
    run: (run) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        child.send({ id, run } satisfies Message);
      }),
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.send({ id: nextId++, stop: true } satisfies Message);
      }),
  };
}

if (process.argv.includes('--serve') && process.send) {
  process.on('message', (msg: Message) => {
    if ('stop' in msg) return process.disconnect();
    runLoad(msg.run).then(
      (result) => process.send?.({ id: msg.id, result } satisfies Reply),
      (err: Error) => process.send?.({ id: msg.id, error: err.message } satisfies Reply),
    );
  });
}
