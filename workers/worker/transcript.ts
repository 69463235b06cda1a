import { lchown, mkdir, open } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { SANDBOX_PATHS } from '../sandbox/hardening.js';
import { listAgentDir, readAgentFile } from '../workspace/agent-files.js';

/** The CLI keeps a session's transcript at projects/<cwd with non-alphanumerics as '-'>/<session>.jsonl. */
const projectDirName = (cwd: string) => cwd.replace(/[^A-Za-z0-9]/g, '-');
export const DEFAULT_MAX_TRANSCRIPT_BYTES = 20 * 1024 * 1024;
const SESSION_ID = /^[A-Za-z0-9-]{1,100}$/;

function checkSessionId(sessionId: string): void {
  // It ends up in a file name: the CLI's session ids are uuids; anything else is refused.
  if (!SESSION_ID.test(sessionId)) throw new Error(`invalid Claude session id: ${JSON.stringify(sessionId.slice(0, 40))}`);
}

/**
 * Reads the transcript of `sessionId` from an attempt's claude config dir, which the agent could write: a
 * link, FIFO or device in its place is skipped (agent-files.ts), and at most `maxBytes` are read.
 * The sandbox's own project dir is looked at first, so a decoy dir of the agent's cannot shadow it.
 */
export async function readTranscript(
  configDir: string,
  sessionId: string,
  maxBytes = DEFAULT_MAX_TRANSCRIPT_BYTES,
): Promise<{ body: string; truncated: boolean } | null> {
  checkSessionId(sessionId);
  const own = projectDirName(SANDBOX_PATHS.workspace);
  const dirs = await listAgentDir(configDir, 'projects').catch(() => [] as string[]);
  const ordered = [own, ...dirs.filter((dir) => dir !== own).sort()];
  for (const dir of ordered) {
    const found = await readAgentFile(configDir, `projects/${dir}/${sessionId}.jsonl`, maxBytes).catch(() => null);
    if (!found) continue;
    if (!found.truncated) return { body: found.body.toString('utf8'), truncated: false };
    // Keep whole lines only, so the kept part still parses as JSONL (and no UTF-8 sequence is split).
    const cut = found.body.subarray(0, found.body.lastIndexOf(0x0a) + 1);
    return { body: cut.toString('utf8'), truncated: true };
  }
  return null;
}

/**
 * Puts an earlier task's transcript where `claude --resume <sessionId>` finds it inside the sandbox. It runs
 * before the container starts, in a config dir made fresh for this attempt; still, the file is created
 * exclusively and never through a link.
 */
export async function restoreTranscript(configDir: string, sessionId: string, body: string, uid = 1000, gid = 1000): Promise<void> {
  checkSessionId(sessionId);
  const projects = path.join(configDir, 'projects');
  const dir = path.join(projects, projectDirName(SANDBOX_PATHS.workspace));
  await mkdir(dir, { recursive: true });
  const file = await open(path.join(dir, `${sessionId}.jsonl`), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await file.writeFile(body);
    await file.chown(uid, gid);
  } finally {
    await file.close();
  }
  for (const p of [projects, dir]) await lchown(p, uid, gid);
}
