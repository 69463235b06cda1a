import type { z } from 'zod';
import { deleteWorkspace, findWorkspace, insertWorkspace, listWorkspaces, updateWorkspace } from '../../db/workspaces.js';
import type { ApiResources } from '../../resources.js';
import { gitSourcePolicy } from '../../domain/git-source-policy.js';
import { checkGitSource } from '../../workspaces/git-source.js';
import { conflict, notFound, unprocessable } from '../errors.js';
import { err, noContent, ok } from '../openapi/response-docs.js';
import { listOf, workspaceSchema } from '../openapi/schemas.js';
import { defineRoute, need, type RouteDef } from '../route.js';
import { uuidParam } from './params.js';
import { checkEgress, presentWorkspace, presentWorkspaces, workspaceKeyRoutes } from './workspace-policy.js';
import { createWorkspaceBody, updateWorkspaceBody, workspaceSource } from './workspace-schemas.js';
import { checkPushTarget, gitCredentialRoutes } from './workspace-push.js';

const PATH = '/api/v1/workspaces';
const outsidePolicy = err(422, 'Git source or egress allowlist outside policy');

export function workspaceRoutes(r: ApiResources): RouteDef[] {
  const policy = gitSourcePolicy(r.config.sandbox);
  // A git URL outside policy is refused here, before anything is stored (the worker checks again).
  const checkSource = (s: z.infer<typeof workspaceSource> | undefined) => {
    if (s?.type !== 'git') return;
    const verdict = checkGitSource(s, policy);
    if (!verdict.ok) throw unprocessable(`source.url: ${verdict.message}`);
  };

  const maxDomains = r.config.sandbox.egress.max_domains;
  const tag = 'workspaces';

  return [
    defineRoute(
      { method: 'POST', path: PATH, summary: 'Create a workspace', tag, access: need('workspace:create'), body: createWorkspaceBody, responses: [ok(workspaceSchema, 'Created', 201), outsidePolicy] },
      async (c, input) => {
        const body = await input.body();
        checkSource(body.source);
        const egress = checkEgress(body.egress, maxDomains);
        const push = checkPushTarget(body.push, body.source, r.config);
        const row = await insertWorkspace(r.sql, { ownerId: c.get('principal').userId, name: body.name, source: body.source, egress, push });
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
        summary: 'Rename a workspace, or change its source or egress policy',
        tag,
        access: need('workspace:update:own'),
        body: updateWorkspaceBody,
        responses: [ok(workspaceSchema), outsidePolicy],
      },
      async (c, input) => {
        const id = uuidParam(c, 'workspace');
        const body = await input.body();
        checkSource(body.source);
        const egress = checkEgress(body.egress, maxDomains);
        const ownerId = c.get('principal').userId;
        // A push target is checked against the source it will have: the new one, else the stored one.
        let push = undefined as ReturnType<typeof checkPushTarget>;
        if (body.push !== undefined) {
          const source = body.source ?? (await findWorkspace(r.sql, ownerId, id))?.source;
          if (!source) throw notFound('workspace');
          push = checkPushTarget(body.push, source, r.config);
        }
        const row = await updateWorkspace(r.sql, ownerId, id, { name: body.name, source: body.source, egress, push });
        if (!row) throw notFound('workspace');
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
