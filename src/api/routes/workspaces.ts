import { Hono } from 'hono';
import { z } from 'zod';
import { deleteWorkspace, findWorkspace, insertWorkspace, listWorkspaces, updateWorkspace } from '../../db/workspaces.js';
import type { ApiResources } from '../../resources.js';
import { gitSourcePolicy } from '../../domain/git-source-policy.js';
import { checkGitSource } from '../../workspaces/git-source.js';
import { conflict, notFound, unprocessable } from '../errors.js';
import type { AuthEnv } from '../middleware/auth.js';
import { readJson } from '../validate.js';
import { uuidParam } from './params.js';
import { checkEgress, presentWorkspace, presentWorkspaces, workspaceKeyRoutes } from './workspace-policy.js';
import { createWorkspaceBody as createBody, updateWorkspaceBody as updateBody, workspaceSource as source } from './workspace-schemas.js';

export function workspaceRoutes(r: ApiResources) {
  const policy = gitSourcePolicy(r.config.sandbox);
  // A git URL outside policy is refused here, before anything is stored (the worker checks again).
  const checkSource = (s: z.infer<typeof source> | undefined) => {
    if (s?.type !== 'git') return;
    const verdict = checkGitSource(s, policy);
    if (!verdict.ok) throw unprocessable(`source.url: ${verdict.message}`);
  };

  const maxDomains = r.config.sandbox.egress.max_domains;

  return new Hono<AuthEnv>()
    .post('/', async (c) => {
      const body = await readJson(c, createBody);
      checkSource(body.source);
      const egress = checkEgress(body.egress, maxDomains);
      const row = await insertWorkspace(r.sql, { ownerId: c.get('principal').userId, name: body.name, source: body.source, egress });
      return c.json(await presentWorkspace(r, row), 201);
    })
    .get('/', async (c) => {
      const rows = await listWorkspaces(r.sql, c.get('principal').userId, 200);
      return c.json({ items: await presentWorkspaces(r, rows) });
    })
    .get('/:id', async (c) => {
      const row = await findWorkspace(r.sql, c.get('principal').userId, uuidParam(c, 'workspace'));
      if (!row) throw notFound('workspace');
      return c.json(await presentWorkspace(r, row));
    })
    .put('/:id', async (c) => {
      const id = uuidParam(c, 'workspace');
      const body = await readJson(c, updateBody);
      checkSource(body.source);
      const egress = checkEgress(body.egress, maxDomains);
      const row = await updateWorkspace(r.sql, c.get('principal').userId, id, { name: body.name, source: body.source, egress });
      if (!row) throw notFound('workspace');
      return c.json(await presentWorkspace(r, row));
    })
    .route('/', workspaceKeyRoutes(r))
    .delete('/:id', async (c) => {
      const outcome = await deleteWorkspace(r.sql, c.get('principal').userId, uuidParam(c, 'workspace'));
      if (outcome === 'missing') throw notFound('workspace');
      if (outcome === 'busy') throw conflict('workspace has queued or running tasks: cancel them or wait, then delete');
      return c.body(null, 204);
    });
}
