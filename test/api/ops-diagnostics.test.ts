import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/index.js';
import { startDiagnostics, type DiagnosticsServer } from '../../src/diagnostics/server.js';
import { createLogger } from '../../src/observability/logger.js';
import { testConfig, testId } from '../support/config.js';

const TOKEN = 'diag-token-0123456789abcdef0123456789';
const cfg = testConfig(testId('opsdiag'), 'postgres://unused@127.0.0.1:5432/unused');
const logger = createLogger(cfg, 'test-diagnostics');
let diag: DiagnosticsServer;

/** GET over a real loopback socket; `firstBytes` stops reading after that many bytes (a heap snapshot is large). */
function get(path: string, token?: string, firstBytes = Infinity): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: diag.port, path, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length >= firstBytes) {
          res.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  expect(cfg.diagnostics).toMatchObject({ enabled: false, host: '127.0.0.1', port: 6060 });
  diag = await startDiagnostics({ ...cfg.diagnostics, port: 0, token: TOKEN, logger, processName: 'test' });
});

afterAll(async () => {
  await diag?.close();
});

describe('diagnostics listener', () => {
  it('listens on loopback by default', () => {
    expect(diag.server.address()).toMatchObject({ address: '127.0.0.1' });
  });

  it('refuses requests without the admin token', async () => {
    expect((await get('/debug/pprof/profile?seconds=1')).status).toBe(401);
    expect((await get('/debug/pprof/profile?seconds=1', 'x'.repeat(TOKEN.length))).status).toBe(401);
    expect((await get('/debug/pprof/heap', 'short')).status).toBe(401);
  });

  it('refuses to start without a long token', async () => {
    await expect(startDiagnostics({ ...cfg.diagnostics, port: 0, token: '', logger })).rejects.toThrow(ConfigError);
    await expect(startDiagnostics({ ...cfg.diagnostics, port: 0, token: 'short', logger })).rejects.toThrow(/AICLI__DIAGNOSTICS__TOKEN/);
  });

  it('takes an N-second CPU profile in the .cpuprofile format, and only one capture at a time', async () => {
    // Two at once: whichever the server takes first holds the profiler for a second; the other is refused.
    const both = await Promise.all([get('/debug/pprof/profile?seconds=1', TOKEN), get('/debug/pprof/profile?seconds=1', TOKEN)]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
    const res = both.find((r) => r.status === 200)!;
    expect(String(res.headers['content-disposition'])).toMatch(/attachment; filename="test-.*\.cpuprofile"/);
    const body = JSON.parse(res.body);
    expect(Array.isArray(body.nodes)).toBe(true);
    expect(body.nodes.length).toBeGreaterThan(0);
    expect(body.endTime - body.startTime).toBeGreaterThanOrEqual(900_000); // microseconds
  });

  it('bounds the profile length', async () => {
    const res = await get(`/debug/pprof/profile?seconds=${cfg.diagnostics.max_profile_seconds + 1}`, TOKEN);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).message).toMatch(/diagnostics\.max_profile_seconds/);
  });

  it('streams a heap snapshot that DevTools can load', async () => {
    const res = await get('/debug/pprof/heap', TOKEN, 4096);
    expect(res.status).toBe(200);
    expect(String(res.headers['content-disposition'])).toMatch(/\.heapsnapshot"/);
    expect(res.body.startsWith('{"snapshot":{"meta":')).toBe(true);
  });
});
