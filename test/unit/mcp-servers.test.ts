import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { buildMcpConfig, mcpRuleServer, mcpSecretsAad, parseStoredMcpServers } from '../../src/domain/mcp-servers.js';
import { buildClaudeArgs } from '../../workers/claude/args.js';
import { buildCreateOptions } from '../../workers/sandbox/hardening.js';
import { createRedactor, REDACTED } from '../../workers/worker/secret-redaction.js';
import { openTaskMcp, writeMcpConfig } from '../../workers/worker/task-mcp.js';
import { splitMcpServers } from '../../src/api/routes/workspace-mcp.js';

const box = SecretBox.fromConfig({ master_key: Buffer.alloc(32, 7).toString('base64'), master_key_id: 'k1', previous_master_keys: {} }) as SecretBox;
const WS = '7b4c7a5e-2f7e-4d4c-9a51-0c3a4b8a9d10';
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('MCP tool rules', () => {
  it.each([
    ['Bash(git *)', null],
    ['mcp__echo', 'echo'],
    ['mcp__echo__*', 'echo'],
    ['mcp__echo__secret_check', 'echo'],
    ['mcp__my-server_2__do__thing', 'my-server_2'],
    ['mcp__', 'invalid'],
    ['mcp__bad name__x', 'invalid'],
    ['mcp__echo__', 'invalid'],
    ['mcp___echo__x', 'invalid'],
    ['mcp__a_b__c', 'a_b'],
    ['mcp__a-__c_d', 'a-'],
  ])('%s names server %s', (rule, server) => {
    expect(mcpRuleServer(rule)).toBe(server);
  });
});

describe('MCP servers: stored masked, sealed, joined back for one attempt', () => {
  const input = [
    { name: 'echo', type: 'stdio' as const, command: 'aicli-mcp-echo', args: ['--x'], env: { ECHO_TOKEN: 'tok-1234567890abcdefWXYZ' } },
    { name: 'docs', type: 'http' as const, url: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer abcdefghijklmnop1234' } },
    { name: 'plain', type: 'stdio' as const, command: '/usr/local/bin/aicli-mcp-echo', args: [] },
  ];

  it('keeps only masked values in what is stored and shown', () => {
    const { stored, secrets } = splitMcpServers(input);
    const text = JSON.stringify(stored);
    expect(text).not.toContain('tok-1234567890abcdefWXYZ');
    expect(text).not.toContain('abcdefghijklmnop1234');
    expect(stored[0]).toEqual({ name: 'echo', type: 'stdio', command: 'aicli-mcp-echo', args: ['--x'], env: { ECHO_TOKEN: '…WXYZ' } });
    expect(secrets).toEqual({ echo: { env: { ECHO_TOKEN: 'tok-1234567890abcdefWXYZ' } }, docs: { headers: { Authorization: 'Bearer abcdefghijklmnop1234' } } });
    expect(parseStoredMcpServers(JSON.parse(text))).toEqual(stored);
  });

  it('refuses two servers with one name', () => {
    expect(() => splitMcpServers([input[0], { ...input[2], name: 'ECHO' }] as never)).toThrow(/mcp_servers\[1\]\.name: "ECHO" is used by another server/);
  });

  it('opens the sealed values only for the workspace they were sealed to, and builds the CLI document', () => {
    const { stored, secrets } = splitMcpServers(input);
    const sealed = box.seal(JSON.stringify(secrets), mcpSecretsAad(WS));
    const opened = openTaskMcp(box, WS, stored, sealed);
    expect(opened.ok).toBe(true);
    if (!opened.ok || !opened.mcp) throw new Error('expected MCP servers');
    expect(JSON.parse(opened.mcp.configJson)).toEqual({
      mcpServers: {
        echo: { type: 'stdio', command: 'aicli-mcp-echo', args: ['--x'], env: { ECHO_TOKEN: 'tok-1234567890abcdefWXYZ' } },
        docs: { type: 'http', url: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer abcdefghijklmnop1234' } },
        plain: { type: 'stdio', command: '/usr/local/bin/aicli-mcp-echo', args: [], env: {} },
      },
    });
    expect(opened.mcp.secretValues.sort()).toEqual(['Bearer abcdefghijklmnop1234', 'tok-1234567890abcdefWXYZ']);

    const moved = openTaskMcp(box, '00000000-0000-4000-8000-000000000000', stored, sealed);
    expect(moved).toEqual({ ok: false, message: expect.stringMatching(/cannot be opened: the secret does not verify/) });
    expect(openTaskMcp(null, WS, stored, sealed)).toEqual({ ok: false, message: expect.stringMatching(/no secrets\.master_key/) });
    expect(openTaskMcp(box, WS, [], null)).toEqual({ ok: true, mcp: null });
  });

  it('never passes a masked value as if it were the secret', () => {
    const { stored } = splitMcpServers(input);
    const config = buildMcpConfig(stored, {});
    expect(config.mcpServers.echo).toEqual({ type: 'stdio', command: 'aicli-mcp-echo', args: ['--x'], env: {} });
  });
});

describe('the --mcp-config document on the host and in the sandbox', () => {
  it('is written read-only, and never through a file or link already there', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mcp-config-'));
    dirs.push(dir);
    const file = await writeMcpConfig(dir, '{"mcpServers":{}}');
    expect((await stat(file)).mode & 0o777).toBe(0o444);
    expect(await readFile(file, 'utf8')).toBe('{"mcpServers":{}}');

    const planted = await mkdtemp(path.join(os.tmpdir(), 'mcp-planted-'));
    dirs.push(planted);
    await writeFile(path.join(planted, 'target'), 'x');
    await symlink(path.join(planted, 'target'), path.join(planted, 'mcp.json'));
    await expect(writeMcpConfig(planted, '{"secret":1}')).rejects.toThrow(/EEXIST/);
    expect(await readFile(path.join(planted, 'target'), 'utf8')).toBe('x');
  });

  it('is mounted read-only at /run/aicli/mcp.json and named with --strict-mcp-config', () => {
    const options = buildCreateOptions({
      image: 'img',
      taskId: 't',
      attempt: 1,
      workerId: 'w',
      workspaceDir: '/srv/s/workspace',
      claudeConfigDir: '/srv/s/claude',
      gatewaySocketPath: null,
      mcpConfigPath: '/srv/s/mcp.json',
      env: {},
      cmd: ['claude'],
      memoryMb: 256,
      cpus: 1,
      pids: 64,
      nofile: 256,
      tmpfsMb: 16,
    });
    expect(options.HostConfig?.Mounts).toContainEqual({ Type: 'bind', Source: '/srv/s/mcp.json', Target: '/run/aicli/mcp.json', ReadOnly: true });
    const args = buildClaudeArgs({ prompt: 'go', mcpConfigPath: '/run/aicli/mcp.json' });
    expect(args.slice(-4)).toEqual(['--mcp-config=/run/aicli/mcp.json', '--strict-mcp-config', '--', 'go']);
    expect(buildClaudeArgs({ prompt: 'go', strictMcpConfig: true })).toContain('--strict-mcp-config');
    expect(buildClaudeArgs({ prompt: 'go' })).not.toContain('--strict-mcp-config');
  });
});

describe('secret redaction of what the worker stores', () => {
  const secret = 'tok-"quoted"\\back-0123456789';
  const redactor = createRedactor([secret, 'short', `${secret}-longer`]);

  it('replaces every occurrence in a record, its JSON-escaped form included, and leaves other records as they are', () => {
    const record = { type: 'user', message: { content: [{ type: 'tool_result', content: `config: {"ECHO_TOKEN":"${secret}"} and ${secret}-longer` }] } };
    const out = redactor.record(record);
    expect(JSON.stringify(out)).not.toContain('0123456789');
    expect(out.message.content[0]?.content).toBe(`config: {"ECHO_TOKEN":"${REDACTED}"} and ${REDACTED}`);
    const clean = { type: 'assistant', text: 'short is too short to redact' };
    expect(redactor.record(clean)).toBe(clean);
  });

  it('replaces plain text and JSON lines alike', () => {
    expect(redactor.text(`stderr: ${secret}\n`)).toBe(`stderr: ${REDACTED}\n`);
    const line = `${JSON.stringify({ content: secret })}\n`;
    expect(redactor.text(line)).toBe(`{"content":"${REDACTED}"}\n`);
    expect(createRedactor([]).text(secret)).toBe(secret);
  });
});
