import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogFile, type LogFileOptions } from '../../src/observability/log-file.js';

// The log file the guide greps: file_path is always the live file, rotated ones sit beside it numbered
// from .1 (newest), bounded by max_backups and max_age, gzipped on request, and reopened on demand.
let dir = '';
let live = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aicli-logfile-'));
  live = path.join(dir, 'app.log');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const open = (o: Partial<LogFileOptions> = {}) => new LogFile({ filePath: live, maxBytes: 100, maxBackups: 3, maxAgeDays: 0, compress: false, ...o });
const line = (n: number) => `${JSON.stringify({ n, msg: 'x'.repeat(30) })}\n`; // 50 bytes each
const names = () => fs.readdirSync(dir).sort();
const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8');

describe('LogFile', () => {
  it('writes file_path itself, and rotates by size into numbered files beside it, newest first', () => {
    const f = open();
    for (let n = 1; n <= 6; n++) f.write(line(n));
    f.close();
    // Two 50-byte lines fit in 100 bytes; each third line starts a new live file.
    expect(names()).toEqual(['app.log', 'app.log.1', 'app.log.2']);
    expect(read('app.log')).toBe(line(5) + line(6));
    expect(read('app.log.1')).toBe(line(3) + line(4));
    expect(read('app.log.2')).toBe(line(1) + line(2));
  });

  it('keeps at most max_backups rotated files, dropping the oldest', () => {
    const f = open({ maxBackups: 2 });
    for (let n = 1; n <= 10; n++) f.write(line(n));
    f.close();
    expect(names()).toEqual(['app.log', 'app.log.1', 'app.log.2']);
    expect(read('app.log.2')).toBe(line(5) + line(6));
  });

  it('removes rotated files older than max_age days, whatever max_backups says', () => {
    fs.writeFileSync(path.join(dir, 'app.log.1'), 'old\n');
    const old = new Date(Date.now() - 40 * 24 * 3600 * 1000);
    fs.utimesSync(path.join(dir, 'app.log.1'), old, old);
    const f = open({ maxBackups: 0, maxAgeDays: 30 });
    for (let n = 1; n <= 3; n++) f.write(line(n));
    f.close();
    // The old .1 became .2 at the rotation, then went for its age; the fresh .1 stays.
    expect(names()).toEqual(['app.log', 'app.log.1']);
    expect(read('app.log.1')).toBe(line(1) + line(2));
  });

  it('gzips a rotated file in the background and waits for it before the next rotation', async () => {
    const f = open({ compress: true });
    for (let n = 1; n <= 3; n++) f.write(line(n));
    await f.settled();
    for (let n = 4; n <= 5; n++) f.write(line(n));
    await f.settled();
    f.close();
    expect(names()).toEqual(['app.log', 'app.log.1.gz', 'app.log.2.gz']);
    expect(gunzipSync(fs.readFileSync(path.join(dir, 'app.log.1.gz'))).toString()).toBe(line(3) + line(4));
    expect(gunzipSync(fs.readFileSync(path.join(dir, 'app.log.2.gz'))).toString()).toBe(line(1) + line(2));
  });

  it('reopens file_path after an outside rotation moved it, as logrotate then SIGHUP do', () => {
    const f = open({ maxBytes: 1_000_000 });
    f.write(line(1));
    fs.renameSync(live, path.join(dir, 'app.log-20261203'));
    f.write(line(2)); // still the moved file, until the reopen
    f.reopen();
    f.write(line(3));
    f.close();
    expect(read('app.log-20261203')).toBe(line(1) + line(2));
    expect(read('app.log')).toBe(line(3));
  });

  it('appends to an existing live file and counts its size toward the next rotation', () => {
    fs.writeFileSync(live, line(0));
    const f = open();
    f.write(line(1));
    f.write(line(2));
    f.close();
    expect(read('app.log.1')).toBe(line(0) + line(1));
    expect(read('app.log')).toBe(line(2));
  });
});
