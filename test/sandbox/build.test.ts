import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Docker from 'dockerode';
import { beforeAll, describe, expect, it } from 'vitest';
import { SandboxBuildError, buildSandboxImage, sandboxImageTag } from '../../workers/sandbox/build.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';

const docker = new Docker();

function expectedTag(): string {
  const require = createRequire(import.meta.url);
  const { version } = require('@anthropic-ai/claude-code-linux-x64/package.json') as { version: string };
  const hash = createHash('sha256');
  hash.update(readFileSync(new URL('../../workers/sandbox/Dockerfile', import.meta.url)));
  hash.update(readFileSync(new URL('../../workers/sandbox/entrypoint.sh', import.meta.url)));
  hash.update(readFileSync(new URL('../../workers/sandbox/mcp-echo.pl', import.meta.url)));
  return `aicli-sandbox:${version}-${hash.digest('hex').slice(0, 8)}`;
}

describe('sandbox image build', () => {
  let image: string;

  beforeAll(async () => {
    await docker.ping().catch((err: unknown) => {
      throw new Error(`Docker engine not reachable on /var/run/docker.sock: ${String(err)}`, { cause: err });
    });
    image = await ensureTestSandboxImage();
  });

  it('derives a stable tag from the claude version and the Dockerfile + entrypoint + MCP echo server hash', () => {
    expect(sandboxImageTag()).toBe(expectedTag());
    expect(sandboxImageTag()).toBe(sandboxImageTag());
    expect(image).toBe(sandboxImageTag());
  });

  it('skips the build when the tag already exists', async () => {
    const lines: string[] = [];
    const startedAt = Date.now();
    const result = await buildSandboxImage({ log: (line) => lines.push(line) });
    expect(result).toEqual({ tag: image, built: false });
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(lines.join('\n')).toContain('already exists');
  });

  it('produces an image that runs as uid 1000 through the entrypoint with the pinned claude', async () => {
    const info = await docker.getImage(image).inspect();
    expect(info.Config.User).toBe('1000:1000');
    expect(info.Config.Entrypoint).toEqual(['/usr/local/bin/aicli-entry']);
    expect(info.Config.WorkingDir).toBe('/workspace');
  });

  it('ships aicli-mcp-echo, a stdio MCP server that answers initialize and tools/list', async () => {
    const container = await docker.createContainer({
      Image: image,
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: [
        `printf '%s\\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}' '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' | aicli-mcp-echo`,
      ],
      HostConfig: { NetworkMode: 'none' },
    });
    try {
      await container.start();
      await container.wait();
      const logs = (await container.logs({ stdout: true, stderr: true })).toString('utf8');
      expect(logs).toContain('"serverInfo":{"name":"aicli-mcp-echo"');
      expect(logs).toContain('"name":"echo"');
      expect(logs).toContain('"name":"secret_check"');
    } finally {
      await container.remove({ force: true });
    }
  });

  it('fails with a one-line cause and fix when the given base image is missing', async () => {
    const attempt = buildSandboxImage({
      tag: `aicli-sandbox:test-never-built-${process.pid}`,
      base: `aicli-test-missing-base:${process.pid}`,
      force: true,
      log: () => undefined,
    });
    await expect(attempt).rejects.toBeInstanceOf(SandboxBuildError);
    const err = (await attempt.catch((e: unknown) => e)) as SandboxBuildError;
    expect(err.message).toMatch(/base image aicli-test-missing-base:\d+ does not exist locally; fix: /);
    expect(err.message).not.toContain('\n');
    await expect(docker.getImage(`aicli-sandbox:test-never-built-${process.pid}`).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });
});
