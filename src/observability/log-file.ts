import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export interface LogFileOptions {
  /** The live file: always the one being written, as `grep … app.log` expects. */
  filePath: string;
  /** Rotate once the live file would grow past this many bytes (logging.max_size, in MB). */
  maxBytes: number;
  /** Rotated files kept (`app.log.1` newest); 0 keeps every one, as max_age allows (logging.max_backups). */
  maxBackups: number;
  /** Rotated files older than this many days are removed; 0 keeps them whatever their age (logging.max_age). */
  maxAgeDays: number;
  /** Rotated files are gzipped (`app.log.1.gz`) in the background (logging.compress). */
  compress: boolean;
  /** Told about a failure to rotate or compress; logging goes on in the live file. */
  onError?: (err: unknown) => void;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A log file that pino writes to line by line. It rotates by size, keeping `app.log` the live file and
 * numbering older ones beside it (`app.log.1`, `app.log.2` … oldest last, `.gz` when compressed), and
 * `reopen()` opens `filePath` again, for an outside logrotate that moved it (SIGHUP).
 */
export class LogFile {
  #fd: number;
  #bytes: number;
  /** Set while the last rotated file is gzipped: the next rotation waits, so no file is renamed under it. */
  #compression: Promise<void> | null = null;
  readonly #opts: LogFileOptions;

  constructor(opts: LogFileOptions) {
    this.#opts = opts;
    fs.mkdirSync(path.dirname(opts.filePath), { recursive: true });
    this.#fd = fs.openSync(opts.filePath, 'a');
    this.#bytes = fs.fstatSync(this.#fd).size;
  }

  write(line: string): boolean {
    const buf = Buffer.from(line);
    if (this.#bytes > 0 && this.#bytes + buf.length > this.#opts.maxBytes && this.#compression === null) this.#rotate();
    fs.writeSync(this.#fd, buf);
    this.#bytes += buf.length;
    return true;
  }

  /** Opens the live path again: what was moved away keeps its lines, and new ones go to a new file there. */
  reopen(): void {
    const fd = fs.openSync(this.#opts.filePath, 'a');
    fs.closeSync(this.#fd);
    this.#fd = fd;
    this.#bytes = fs.fstatSync(fd).size;
  }

  close(): void {
    fs.closeSync(this.#fd);
  }

  #rotate(): void {
    try {
      const rotated = this.#shiftBackups();
      fs.renameSync(this.#opts.filePath, rotated);
      this.reopen();
      if (this.#opts.compress) this.#compression = this.#compress(rotated).finally(() => (this.#compression = null));
      this.#removeExpired();
    } catch (err) {
      // A full or read-only disk must not stop the process: keep writing the live file and say so once per try.
      this.#opts.onError?.(err);
      this.#bytes = 0;
    }
  }

  /** Moves `.1` to `.2` and so on (dropping what is past max_backups); the name the live file moves to. */
  #shiftBackups(): string {
    const { filePath, maxBackups } = this.#opts;
    const numbered = this.#backups();
    for (const b of numbered.reverse()) {
      const next = b.n + 1;
      const from = path.join(path.dirname(filePath), b.name);
      if (maxBackups > 0 && next > maxBackups) fs.rmSync(from, { force: true });
      else fs.renameSync(from, `${filePath}.${next}${b.gz ? '.gz' : ''}`);
    }
    return `${filePath}.1`;
  }

  /** Rotated files beside the live one, newest (`.1`) first. */
  #backups(): { name: string; n: number; gz: boolean }[] {
    const base = path.basename(this.#opts.filePath);
    const found: { name: string; n: number; gz: boolean }[] = [];
    for (const name of fs.readdirSync(path.dirname(this.#opts.filePath))) {
      if (!name.startsWith(`${base}.`)) continue;
      const m = /^(\d+)(\.gz)?$/.exec(name.slice(base.length + 1));
      if (m) found.push({ name, n: Number(m[1]), gz: m[2] !== undefined });
    }
    return found.sort((a, b) => a.n - b.n);
  }

  #removeExpired(): void {
    if (this.#opts.maxAgeDays <= 0) return;
    const dir = path.dirname(this.#opts.filePath);
    const cutoff = Date.now() - this.#opts.maxAgeDays * DAY_MS;
    for (const b of this.#backups()) {
      const file = path.join(dir, b.name);
      if (fs.statSync(file).mtimeMs < cutoff) fs.rmSync(file, { force: true });
    }
  }

  async #compress(file: string): Promise<void> {
    try {
      await pipeline(fs.createReadStream(file), createGzip(), fs.createWriteStream(`${file}.gz`));
      await fs.promises.rm(file, { force: true });
    } catch (err) {
      this.#opts.onError?.(err);
    }
  }

  /** Resolves once no compression is running (tests and shutdown). */
  async settled(): Promise<void> {
    await this.#compression;
  }
}
