import http from 'node:http';
import type { AddressInfo } from 'node:net';

// A small loopback load balancer for tests, as an operator's would be (nginx, HAProxy, a Kubernetes Service):
// it polls each upstream's GET /readyz and sends requests, round robin, only to those that answered 200 the
// last time; keep-alive connections to the upstreams, streamed responses (SSE) passed through. It never
// retries: a request sent to an upstream that refuses or drops it is answered 502 and counted, so a test
// sees every failure the API's shutdown would cause.

export interface Upstream {
  port: number;
  ready: boolean;
  /** Checks in a row that got no answer (refused, timed out); `fall` of them take it out of rotation. */
  missed: number;
  /** Requests sent to this upstream. */
  routed: number;
}

export interface Balancer {
  url: string;
  upstreams: Upstream[];
  /** Requests answered 502/503 by the balancer itself (upstream refused or dropped, or none ready). */
  failures: string[];
  close(): Promise<void>;
}

/**
 * An answer other than 200 (a draining API's 503) takes an upstream out at once; `fall` checks in a row with
 * no answer do too (one slow check on a loaded machine does not), as HAProxy's `fall` would.
 */
export async function startBalancer(ports: number[], opts: { checkIntervalMs?: number; checkTimeoutMs?: number; fall?: number } = {}): Promise<Balancer> {
  const checkIntervalMs = opts.checkIntervalMs ?? 200;
  const checkTimeoutMs = opts.checkTimeoutMs ?? 2000;
  const fall = opts.fall ?? 3;
  const upstreams: Upstream[] = ports.map((port) => ({ port, ready: false, missed: 0, routed: 0 }));
  const failures: string[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let next = 0;
  let closed = false;

  const check = (u: Upstream) =>
    new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: u.port, path: '/readyz', agent: false, timeout: checkTimeoutMs }, (res) => {
        res.resume();
        u.missed = 0;
        u.ready = res.statusCode === 200;
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        u.missed++;
        if (u.missed >= fall) u.ready = false;
        resolve();
      });
    });
  const checks = (async () => {
    while (!closed) {
      await Promise.all(upstreams.map(check));
      await new Promise((r) => setTimeout(r, checkIntervalMs));
    }
  })();

  const pick = (): Upstream | null => {
    for (let i = 0; i < upstreams.length; i++) {
      const u = upstreams[(next + i) % upstreams.length]!;
      if (u.ready) {
        next = (next + i + 1) % upstreams.length;
        return u;
      }
    }
    return null;
  };

  const server = http.createServer((req, res) => {
    const u = pick();
    // The client went away first (it stopped reading a stream): the upstream request is dropped, no failure.
    let clientGone = false;
    const fail = (status: number, why: string) => {
      if (clientGone) return;
      failures.push(`${req.method} ${req.url}: ${why}`);
      if (!res.headersSent) {
        res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
        res.end(JSON.stringify({ error: 'Bad gateway', message: why }));
      } else res.destroy();
    };
    if (!u) return fail(503, 'no upstream ready');
    u.routed++;
    const upstream = http.request(
      { host: '127.0.0.1', port: u.port, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${u.port}` }, agent },
      (up) => {
        // Hop-by-hop: the upstream's Connection: close is about its connection to us, not ours to the client.
        const headers = { ...up.headers };
        delete headers.connection;
        delete headers['keep-alive'];
        res.writeHead(up.statusCode ?? 502, headers);
        up.pipe(res);
        up.on('error', () => res.destroy());
        // An upstream that ends a response early (a cut) shows as a client error, not silently.
        up.on('aborted', () => fail(502, `upstream ${u.port} aborted the response`));
      },
    );
    upstream.on('error', (err) => fail(502, `upstream ${u.port}: ${err.message}`));
    res.on('close', () => {
      if (res.writableFinished) return;
      clientGone = true;
      upstream.destroy();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    upstreams,
    failures,
    close: async () => {
      closed = true;
      await checks;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
