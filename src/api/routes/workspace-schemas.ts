import { z } from 'zod';

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

export const createWorkspaceBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    source: workspaceSource.default({ type: 'empty' }),
    egress: workspaceEgress.optional(),
    push: workspacePush.optional(),
  })
  .strict();

export const updateWorkspaceBody = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    source: workspaceSource.optional(),
    egress: workspaceEgress.optional(),
    push: workspacePush.nullable().optional().describe('null removes the push target'),
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
