import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { toError } from '../util/to-error.js';

export type MigrationErrorCode = 'dirty' | 'failed' | 'behind' | 'missing_down' | 'bad_file' | 'unknown_version';

/** Every migration problem; its message is one line that names the cause and the fix. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  readonly code: MigrationErrorCode;

  constructor(code: MigrationErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export interface MigrationFile {
  /** The digit prefix exactly as written in the file name, e.g. `0003`. */
  version: string;
  /** The part after the first underscore, e.g. `add_x` for `0003_add_x.sql`. */
  name: string;
  upPath: string;
  downPath: string | null;
}

// Name characters exclude `.` so that `0001_init.up.sql` is rejected loudly
// instead of silently becoming a migration named `init.up`.
const FILE_NAME = /^(\d+)_([A-Za-z0-9][A-Za-z0-9_-]*)(\.down)?\.sql$/;
const EXPECTED = 'expected NNNN_name.sql or NNNN_name.down.sql (name: letters, digits, _ or -)';

/** Versions are compared as numbers so `3`, `003` and `0003` mean the same migration. */
export function versionKey(version: string): bigint {
  return BigInt(version);
}

export function compareVersions(a: string, b: string): number {
  const ka = versionKey(a);
  const kb = versionKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export function migrationStem(file: Pick<MigrationFile, 'version' | 'name'>): string {
  return `${file.version}_${file.name}`;
}

interface ParsedName {
  fileName: string;
  version: string;
  name: string;
  down: boolean;
}

function parseFileName(dir: string, fileName: string): ParsedName {
  const match = FILE_NAME.exec(fileName);
  const version = match?.[1];
  const name = match?.[2];
  if (version === undefined || name === undefined) {
    throw new MigrationError('bad_file', `bad migration file name "${fileName}" in ${dir}: ${EXPECTED}`);
  }
  if (versionKey(version) === 0n) {
    throw new MigrationError('bad_file', `bad migration file name "${fileName}" in ${dir}: version 0 means "no migrations applied"; start at 0001`);
  }
  return { fileName, version, name, down: match?.[3] !== undefined };
}

async function listSqlFileNames(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    // Other files (README.md, .gitkeep) may live beside the migrations.
    return entries
      .filter((e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith('.') && e.name.endsWith('.sql'))
      .map((e) => e.name);
  } catch (err) {
    const cause = toError(err);
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : cause.message;
    throw new MigrationError('bad_file', `cannot read migrations directory ${dir}: ${reason}; check the path`, { cause });
  }
}

/**
 * Reads `dir` and pairs every `NNNN_name.sql` with its optional `NNNN_name.down.sql`,
 * sorted by version. Bad names, duplicate versions and orphan down files are errors,
 * because silently skipping them would leave the schema different from what the author meant.
 */
export async function readMigrationDir(dir: string): Promise<MigrationFile[]> {
  const parsed = (await listSqlFileNames(dir)).sort().map((fileName) => parseFileName(dir, fileName));

  const ups = new Map<bigint, MigrationFile>();
  for (const p of parsed.filter((x) => !x.down)) {
    const key = versionKey(p.version);
    const seen = ups.get(key);
    if (seen) {
      throw new MigrationError(
        'bad_file',
        `duplicate migration version ${p.version} in ${dir}: ${path.basename(seen.upPath)} and ${p.fileName}; renumber one of them`,
      );
    }
    ups.set(key, { version: p.version, name: p.name, upPath: path.resolve(dir, p.fileName), downPath: null });
  }

  for (const p of parsed.filter((x) => x.down)) {
    const up = ups.get(versionKey(p.version));
    if (!up || up.version !== p.version || up.name !== p.name) {
      throw new MigrationError(
        'bad_file',
        `down migration ${p.fileName} in ${dir} has no matching ${p.version}_${p.name}.sql; rename it to match its up file`,
      );
    }
    up.downPath = path.resolve(dir, p.fileName);
  }

  return [...ups.values()].sort((a, b) => compareVersions(a.version, b.version));
}
