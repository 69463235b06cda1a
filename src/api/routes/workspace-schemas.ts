import { z } from 'zod';
import { MAX_MCP_SERVER_NAME, MAX_MCP_SERVERS, MCP_SERVER_NAME } from '../../domain/mcp-servers.js';

/** Request bodies of /api/v1/workspaces; the routes validate with them and the OpenAPI document describes them. */
export const workspaceSource = z.discriminatedUnion('type', [
  z.object({ type: z.literal('empty') }).strict(),
  z.object({ type: z.literal('git'), url: z.string().min(1).max(2048), ref: z.string().min(1).max(255).optional() }).strict(),
]);

/**
 * The sandbox's network: `none` (no network) or `allowlist` (listed host names through the worker's
 * egress proxy). Host-name rules and sandbox.egress.max_domains are checked by the route (422).
 */
export const workspaceEgress = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('none') }).strict(),
  z.object({ mode: z.literal('allowlist'), domains: z.array(z.string().min(1).max(255)).min(1).max(1000) }).strict(),
]);

const gitIdentity = z.object({ name: z.string().min(1).max(200), email: z.string().min(1).max(200) }).strict();

/**
 * Where succeeded tasks' work is pushed as a branch: `remote` is `source` (the workspace's git source) or an
 * https:// or file:// URL, checked like a source (422). Names and e-mails are checked by the route.
 */
export const workspacePush = z
  .object({
    remote: z.string().min(1).max(2048).default('source'),
    branch_prefix: z.string().max(100).default('aicli/'),
    default: z.boolean().default(false),
    author: gitIdentity.optional(),
    committer: gitIdentity.optional(),
  })
  .strict();

const NO_NUL = /^[^\0]*$/;
const ONE_LINE = /^[^\0\r\n]*$/;
const secretMap = (what: string, name: z.ZodString, value: RegExp) =>
  z
    .record(name, z.string().min(1).max(8192).regex(value, `a ${what} must not contain NUL bytes${value === ONE_LINE ? ' or line breaks' : ''}`))
    .refine((m) => Object.keys(m).length <= 32, `at most 32 ${what}s per server`)
    .optional();

const mcpServerName = z
  .string()
  .max(MAX_MCP_SERVER_NAME)
  .regex(MCP_SERVER_NAME, 'must be letters, digits, - and single _ between them (no __, no _ at the end), starting with a letter or digit');

/**
 * One MCP server of a workspace. `stdio`: a command present in the sandbox image, run inside the sandbox
 * (e.g. `aicli-mcp-echo`); `http`: a remote server, reached only through the workspace's egress allowlist
 * (the route checks the host is listed). Env and header values are secrets: stored sealed, shown masked.
 */
export const mcpServerInput = z.discriminatedUnion('type', [
  z
    .object({
      name: mcpServerName,
      type: z.literal('stdio'),
      command: z
        .string()
        .max(255)
        .regex(/^[A-Za-z0-9_./+][A-Za-z0-9_./+-]*$/, 'must be a command name or absolute path present in the sandbox image (no spaces or shell syntax)'),
      args: z.array(z.string().max(4096).regex(NO_NUL, 'an argument must not contain NUL bytes')).max(64).default([]),
      env: secretMap('environment value', z.string().max(128).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'), NO_NUL),
    })
    .strict(),
  z
    .object({
      name: mcpServerName,
      type: z.literal('http'),
      url: z.string().max(2048).url(),
      headers: secretMap('header value', z.string().max(128).regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name'), ONE_LINE),
    })
    .strict(),
]);

export const mcpServersInput = z.array(mcpServerInput).max(MAX_MCP_SERVERS);

export const createWorkspaceBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    source: workspaceSource.default({ type: 'empty' }),
    egress: workspaceEgress.optional(),
    push: workspacePush.optional(),
    mcp_servers: mcpServersInput.optional(),
  })
  .strict();

/** `mcp_servers`, when given, replaces the whole list, secret values included (`[]` removes them all). */
export const updateWorkspaceBody = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    source: workspaceSource.optional(),
    egress: workspaceEgress.optional(),
    push: workspacePush.nullable().optional().describe('null removes the push target'),
    mcp_servers: mcpServersInput.optional(),
  })
  .strict();

/** PUT /api/v1/workspaces/:id/git-credential: a token, or a user name and password; sealed, shown only masked. */
export const gitCredentialBody = z.union([
  z.object({ token: z.string().min(1).max(4096) }).strict(),
  z.object({ username: z.string().min(1).max(200), password: z.string().min(1).max(4096) }).strict(),
]);

/** PUT /api/v1/workspaces/:id/anthropic-key: stored sealed, never shown again (only masked). */
export const anthropicKeyBody = z.object({ api_key: z.string().min(1).max(1024) }).strict();

export type WorkspaceSourceInput = z.infer<typeof workspaceSource>;
export type McpServerInput = z.infer<typeof mcpServerInput>;
