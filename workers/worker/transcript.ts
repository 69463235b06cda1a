import { chown, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SANDBOX_PATHS } from '../sandbox/hardening.js';

/** The CLI keeps a session's transcript at projects/<cwd with non-alphanumerics as '-'>/<session>.jsonl. */
const projectDirName = (cwd: string) => cwd.replace(/[^A-Za-z0-9]/g, '-');
const MAX_TRANSCRIPT_BYTES = 20 * 1024 * 1024;
const SESSION_ID = /^[A-Za-z0-9-]{1,100}$/;

function checkSessionId(sessionId: string): void {
  // It ends up in a file name: the CLI's session ids are uuids; anything else is refused.
  if (!SESSION_ID.test(sessionId)) throw new Error(`invalid Claude session id: ${JSON.stringify(sessionId.slice(0, 40))}`);
}

/** Reads the transcript of `sessionId` from an attempt's claude config dir (bounded). */
export async function readTranscript(configDir: string, sessionId: string): Promise<{ body: string; truncated: boolean } | null> {
  checkSessionId(sessionId);
  const projects = path.join(configDir, 'projects');
  const dirs = await readdir(projects).catch(() => [] as string[]);
  for (const dir of dirs) {
    const file = path.join(projects, dir, `${sessionId}.jsonl`);
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) continue;
    const body = await readFile(file, 'utf8');
    if (Buffer.byteLength(body) <= MAX_TRANSCRIPT_BYTES) return { body, truncated: false };
    // Keep whole lines only, so the kept part still parses as JSONL.
    const cut = body.slice(0, MAX_TRANSCRIPT_BYTES);
    return { body: cut.slice(0, cut.lastIndexOf('\n') + 1), truncated: true };
  }
  return null;
}

/** Puts an earlier task's transcript where `claude --resume <sessionId>` finds it inside the sandbox. */
export async function restoreTranscript(configDir: string, sessionId: string, body: string, uid = 1000, gid = 1000): Promise<void> {
  checkSessionId(sessionId);
  const dir = path.join(configDir, 'projects', projectDirName(SANDBOX_PATHS.workspace));
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${sessionId}.jsonl`);
  await writeFile(file, body, { mode: 0o600 });
  for (const p of [path.join(configDir, 'projects'), dir, file]) await chown(p, uid, gid);
}
