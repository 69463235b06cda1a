// The API under test: the compiled CLI's `aicli-web api` on the bench's database and Redis prefix, no worker
// (the backlog just grows), one signed-in user whose role has its task cap lifted.
import { ApiClient } from '../../test/support/api-client.js';
import { testEnv } from '../../test/support/config.js';
import { runCli, spawnCli, type CliProcess } from '../../test/support/processes.js';

export interface EnqueueApi {
  url: string;
  pid: number;
  token: string;
  userId: string;
  workspaceId: string;
  proc: CliProcess;
  /** The environment the API runs with (prefix, queue name): the raw loop's queue uses the same. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** So many that no bench run reaches them: the cap and rate limits stay on (their cost is measured), never refusing. */
const UNREACHED = '100000000';

export async function startEnqueueApi(o: { id: string; dbUrl: string; extraEnv?: Record<string, string> }): Promise<EnqueueApi> {
  const env = testEnv(o.id, o.dbUrl, {
    PORT: '0',
    LOG_LEVEL: 'info',
    AICLI__LIMITS__ROLES__USER__MAX_CONCURRENT_TASKS: UNREACHED,
    AICLI__RATE_LIMIT__PER_IP__REQUESTS: UNREACHED,
    AICLI__RATE_LIMIT__PER_USER__REQUESTS: UNREACHED,
    ...o.extraEnv,
  });
  const proc = spawnCli(['api'], env);
  try {
    const [, url] = await proc.waitFor(/API listening on (http:\/\/[\d.]+:\d+)/, 60_000);
    const email = `enqueue-${o.id}@example.com`;
    const password = 'a long enough password';
    const created = await runCli(['users', 'create', '--email', email, '--password', password], env);
    if (created.code !== 0) throw new Error(`users create failed: ${created.output}`);
    const api = new ApiClient(url as string);
    await api.login(email, password);
    const me = await api.request('GET', '/api/v1/auth/me');
    const ws = await api.request('POST', '/api/v1/workspaces', { name: 'bench-enqueue' });
    if (ws.status !== 201 || me.status !== 200) throw new Error(`set-up failed: me ${me.status}, workspace ${ws.status} ${ws.text}`);
    return {
      url: url as string,
      pid: proc.child.pid as number,
      token: api.token as string,
      userId: me.json.id as string,
      workspaceId: ws.json.id as string,
      proc,
      env,
      stop: async () => void (await proc.stop('SIGTERM')),
    };
  } catch (err) {
    await proc.stop('SIGKILL');
    throw err;
  }
}
