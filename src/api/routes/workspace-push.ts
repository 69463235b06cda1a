import type { z } from 'zod';
import type { Config } from '../../config/index.js';
import { maskSecret, SecretBox } from '../../crypto/secret-box.js';
import { deleteWorkspaceSecret, upsertWorkspaceSecret, workspaceSecretAad } from '../../db/workspace-secrets.js';
import { findWorkspace, type WorkspaceSource } from '../../db/workspaces.js';
import { isSafeBranchPrefix, isSafeIdentityField, type GitIdentity, type PushTarget } from '../../domain/branch-push.js';
import { gitSourcePolicy } from '../../domain/git-source-policy.js';
import type { ApiResources } from '../../resources.js';
import { checkGitSource } from '../../workspaces/git-source.js';
import { ApiError, notFound, unprocessable } from '../errors.js';
import { err, noContent } from '../openapi/response-docs.js';
import { defineRoute, need, type RouteDef } from '../route.js';
import { uuidParam } from './params.js';
import { gitCredentialBody, type workspacePush } from './workspace-schemas.js';

// A workspace's push target and its git credential. The credential is sealed here like the Anthropic key
// and only ever shown masked; it is opened by the worker's pusher alone, never in a sandbox.

/** The user name a token is sent with (GitHub's convention; GitLab and Gitea take any name with a token). */
const TOKEN_USERNAME = 'x-access-token';

/**
 * The target to store: the remote checked like a git source (the worker checks again, with DNS, before it
 * pushes), a prefix that makes valid branch names, identities git can write. undefined: not given.
 */
export function checkPushTarget(
  given: z.infer<typeof workspacePush> | null | undefined,
  source: WorkspaceSource,
  cfg: Config,
): PushTarget | null | undefined {
  if (given === undefined || given === null) return given;
  if (source.type !== 'git') throw unprocessable('push: a push target needs a workspace with a git source (the branch is based on it)');
  if (given.remote !== 'source') {
    const verdict = checkGitSource({ url: given.remote }, gitSourcePolicy(cfg.sandbox));
    if (!verdict.ok) throw unprocessable(`push.remote: ${verdict.message}`);
  }
  if (!isSafeBranchPrefix(given.branch_prefix)) {
    throw unprocessable('push.branch_prefix must make a valid git branch name (letters, digits, "-", "_", "." and "/"; no "..", spaces or leading "-")');
  }
  const fallback: GitIdentity = { name: cfg.push.author_name, email: cfg.push.author_email };
  const identity = (field: 'author' | 'committer'): GitIdentity => {
    const value = given[field] ?? given.author ?? fallback;
    if (!isSafeIdentityField(value.name) || !isSafeIdentityField(value.email)) throw unprocessable(`push.${field}: name and email must be one line without < or >`);
    return { name: value.name.trim(), email: value.email.trim() };
  };
  return { remote: given.remote, branch_prefix: given.branch_prefix, default: given.default, author: identity('author'), committer: identity('committer') };
}

export function gitCredentialRoutes(r: ApiResources, workspacesPath: string): RouteDef[] {
  const box = SecretBox.fromConfig(r.config.secrets);
  const path = `${workspacesPath}/:id/git-credential`;
  const access = need('workspace:update:own');
  return [
    defineRoute(
      {
        method: 'PUT',
        path,
        summary: "Store the workspace's git credential for branch pushes: a token, or a user name and password (sealed; never shown again)",
        tag: 'workspaces',
        access,
        body: gitCredentialBody,
        responses: [noContent('Stored'), err(422, 'Not a usable credential'), err(503, 'No secrets.master_key configured')],
      },
      async (c, input) => {
        const id = uuidParam(c, 'workspace');
        const body = await input.body();
        if (!(await findWorkspace(r.sql, c.get('principal').userId, id))) throw notFound('workspace');
        const credential = 'token' in body ? { username: TOKEN_USERNAME, password: body.token.trim() } : { username: body.username, password: body.password };
        // A colon ends the user name in basic auth; a control character would break the header.
        if (credential.username.includes(':') || /[\r\n\0]/.test(credential.username + credential.password) || credential.password === '') {
          throw unprocessable('the credential must be one line, and the user name must not contain ":"');
        }
        if (box === null) {
          throw new ApiError(
            503,
            'Service unavailable',
            'git credentials need a master key: set secrets.master_key (AICLI__SECRETS__MASTER_KEY, from `openssl rand -base64 32`) on the API and the workers',
          );
        }
        const sealed = box.seal(JSON.stringify(credential), workspaceSecretAad(id, 'git_credential'));
        const masked = `${credential.username === TOKEN_USERNAME ? '' : `${credential.username}:`}${maskSecret(credential.password)}`;
        await upsertWorkspaceSecret(r.sql, { workspaceId: id, kind: 'git_credential', sealed, masked });
        r.logger.info({ action: 'workspace_git_credential_set', workspace_id: id, key_id: sealed.keyId }, 'workspace git credential stored');
        return c.body(null, 204);
      },
    ),
    defineRoute(
      { method: 'DELETE', path, summary: "Remove the workspace's git credential (pushes go without one)", tag: 'workspaces', access, responses: [noContent('Removed')] },
      async (c) => {
        const id = uuidParam(c, 'workspace');
        if (!(await findWorkspace(r.sql, c.get('principal').userId, id))) throw notFound('workspace');
        if (await deleteWorkspaceSecret(r.sql, id, 'git_credential')) r.logger.info({ action: 'workspace_git_credential_deleted', workspace_id: id }, 'workspace git credential removed');
        return c.body(null, 204);
      },
    ),
  ];
}
