import type { z } from 'zod';
import { SecretBox } from '../../crypto/secret-box.js';
import { saveWorkspaceMcp } from '../../db/workspace-mcp.js';
import { deleteWorkspace, findWorkspace, insertWorkspace, listWorkspaces, updateWorkspace, type WorkspaceSource } from '../../db/workspaces.js';
import { parseStoredMcpServers } from '../../domain/mcp-servers.js';
import { NO_EGRESS, parseStoredEgress } from '../../net/egress-policy.js';
import type { ApiResources } from '../../resources.js';
import { gitSourcePolicy } from '../../domain/git-source-policy.js';
import { checkGitSource } from '../../workspaces/git-source.js';
import { conflict, notFound, unprocessable } from '../errors.js';
import { err, noContent, ok } from '../openapi/response-docs.js';
import { listOf, workspaceSchema } from '../openapi/schemas.js';
import { defineRoute, need, type RouteDef } from '../route.js';
import { uuidParam } from './params.js';
import { checkMcpEgress, sealMcpSecrets, splitMcpServers } from './workspace-mcp.js';
import { checkEgress, presentWorkspace, presentWorkspaces, workspaceKeyRoutes } from './workspace-policy.js';
import { createWorkspaceBody, updateWorkspaceBody, workspaceSource } from './workspace-schemas.js';
import { checkPushTarget, gitCredentialRoutes } from './workspace-push.js';

const PATH = '/api/v1/workspaces';
const outsidePolicy = err(422, 'Git source, egress allowlist or MCP server outside policy');
const noMasterKey = err(503, 'MCP server secrets given but no secrets.master_key configured');

export function workspaceRoutes(r: ApiResources): RouteDef[] {
  const policy = gitSourcePolicy(r.config.sandbox);
  // A git URL outside policy is refused here, before anything is stored (the worker checks again).
  const checkSource = (s: z.infer<typeof workspaceSource> | undefined) => {
    if (s?.type !== 'git') return;
    const verdict = checkGitSource(s, policy);
    if (!verdict.ok) throw unprocessable(`source.url: ${verdict.message}`);
  };

  const maxDomains = r.config.sandbox.egress.max_domains;
  const box = SecretBox.fromConfig(r.config.secrets);
  const tag = 'workspaces';

  return [
    defineRoute(
      {
        method: 'POST',
        path: PATH,
        summary: 'Create a workspace',
        tag,
        access: need('workspace:create'),
        body: createWorkspaceBody,
        responses: [ok(workspaceSchema, 'Created', 201), outsidePolicy, noMasterKey],
      },
      async (c, input) => {
        const body = await input.body();
        checkSource(body.source);
        const egress = checkEgress(body.egress, maxDomains);
        const push = checkPushTarget(body.push, body.source, r.config);
        const mcp = body.mcp_servers ? splitMcpServers(body.mcp_servers) : null;
        if (mcp) checkMcpEgress(mcp.stored, egress ?? NO_EGRESS);
        // One transaction: the secrets are sealed to the new row's id, and a refusal leaves no row behind.
        const row = await r.sql.begin(async (tx) => {
          const created = await insertWorkspace(tx, { ownerId: c.get('principal').userId, name: body.name, source: body.source, egress, push });
          if (!mcp) return created;
          await saveWorkspaceMcp(tx, created.id, mcp.stored, sealMcpSecrets(box, created.id, mcp.secrets));
          return { ...created, mcp_servers: mcp.stored };
        });
        if (mcp) r.logger.info({ action: 'workspace_mcp_set', workspace_id: row.id, servers: mcp.stored.length }, 'workspace MCP servers stored');
        return c.json(await presentWorkspace(r, row), 201);
      },
    ),
    defineRoute({ method: 'GET', path: PATH, summary: 'List own workspaces', tag, access: need('workspace:read:own'), responses: [ok(listOf(workspaceSchema))] }, async (c) => {
      const rows = await listWorkspaces(r.sql, c.get('principal').userId, 200);
      return c.json({ items: await presentWorkspaces(r, rows) });
    }),
    defineRoute({ method: 'GET', path: `${PATH}/:id`, summary: 'Get a workspace', tag, access: need('workspace:read:own'), responses: [ok(workspaceSchema)] }, async (c) => {
      const row = await findWorkspace(r.sql, c.get('principal').userId, uuidParam(c, 'workspace'));
      if (!row) throw notFound('workspace');
      return c.json(await presentWorkspace(r, row));
    }),
    defineRoute(
      {
        method: 'PUT',
        path: `${PATH}/:id`,
        summary: 'Rename a workspace, or change its source, egress policy or MCP servers',
        tag,
        access: need('workspace:update:own'),
        body: updateWorkspaceBody,
        responses: [ok(workspaceSchema), outsidePolicy, noMasterKey],
      },
      async (c, input) => {
        const id = uuidParam(c, 'workspace');
        const ownerId = c.get('principal').userId;
        const body = await input.body();
        checkSource(body.source);
        const egress = checkEgress(body.egress, maxDomains);
        const mcp = body.mcp_servers ? splitMcpServers(body.mcp_servers) : null;
        const row = await r.sql.begin(async (tx) => {
          // The row lock holds the workspace still while it is checked and written: the pair (egress, MCP
          // servers), and the source a push target is checked against.
          const current = await tx`select source, egress, mcp_servers, push from workspaces where id = ${id} and owner_id = ${ownerId} and deleted_at is null for update`;
          if (current.length === 0) return undefined;
          const stored = current[0] as { source: WorkspaceSource; egress: unknown; mcp_servers: unknown; push: unknown };
          // A push target needs a git source: a submission reads the push default without looking at the source.
          if (body.source && body.source.type !== 'git' && body.push === undefined && stored.push !== null) {
            throw unprocessable('source: the workspace pushes its tasks to a git remote and needs a git source; remove the push target too (push: null)');
          }
          // A narrower allowlist must still reach every remote server, and new servers the allowlist in force.
          if (egress || mcp) checkMcpEgress(mcp?.stored ?? parseStoredMcpServers(stored.mcp_servers), egress ?? parseStoredEgress(stored.egress));
          // A push target is checked against the source it will have: the new one, else the stored one.
          const push = body.push === undefined ? undefined : checkPushTarget(body.push, body.source ?? stored.source, r.config);
          const updated = await updateWorkspace(tx, ownerId, id, { name: body.name, source: body.source, egress, push });
          if (!updated || !mcp) return updated;
          await saveWorkspaceMcp(tx, id, mcp.stored, sealMcpSecrets(box, id, mcp.secrets));
          return { ...updated, mcp_servers: mcp.stored };
        });
        if (!row) throw notFound('workspace');
        if (mcp) r.logger.info({ action: 'workspace_mcp_set', workspace_id: id, servers: mcp.stored.length }, 'workspace MCP servers stored');
        return c.json(await presentWorkspace(r, row));
      },
    ),
    ...workspaceKeyRoutes(r, PATH),
    ...gitCredentialRoutes(r, PATH),
    defineRoute(
      { method: 'DELETE', path: `${PATH}/:id`, summary: 'Delete a workspace', tag, access: need('workspace:delete:own'), responses: [noContent('Deleted'), err(409, 'Tasks still queued or running')] },
      async (c) => {
        const outcome = await deleteWorkspace(r.sql, c.get('principal').userId, uuidParam(c, 'workspace'));
        if (outcome === 'missing') throw notFound('workspace');
        if (outcome === 'busy') throw conflict('workspace has queued or running tasks: cancel them or wait, then delete');
        return c.body(null, 204);
      },
    ),
  ];
}
