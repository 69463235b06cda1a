import { describe, expect, it } from 'vitest';
import { DockerStreamDemuxer } from '../../workers/sandbox/demux.js';

function frame(type: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => stream.once('end', () => resolve(Buffer.concat(chunks).toString())));
}

describe('DockerStreamDemuxer', () => {
  it('splits frames cut at any byte boundary into stdout and stderr, dropping stdin frames', async () => {
    const wire = Buffer.concat([frame(1, 'hello '), frame(2, 'oops\n'), frame(0, 'ignored'), frame(1, 'world\n'), frame(1, '')]);
    for (let cut = 1; cut <= wire.length; cut += 1) {
      const demuxer = new DockerStreamDemuxer();
      const outputs = Promise.all([readAll(demuxer.stdout), readAll(demuxer.stderr)]);
      for (let i = 0; i < wire.length; i += cut) demuxer.write(wire.subarray(i, i + cut));
      demuxer.end();
      expect(await outputs).toEqual(['hello world\n', 'oops\n']);
    }
  });

  it('holds back the source while a reader is slow, then delivers everything', async () => {
    const demuxer = new DockerStreamDemuxer();
    const big = frame(1, 'x'.repeat(1024 * 1024));
    demuxer.write(big);
    await new Promise(setImmediate);
    // Nobody reads stdout yet, so the chunk stays unacknowledged (no unbounded buffering upstream).
    expect(demuxer.writableLength).toBe(big.length);
    const drained = new Promise<void>((resolve) => demuxer.once('drain', resolve));
    const stdout = readAll(demuxer.stdout);
    demuxer.stderr.resume();
    await drained;
    expect(demuxer.writableLength).toBe(0);
    demuxer.end();
    expect((await stdout).length).toBe(1024 * 1024);
  });

  it('rejects a stream that is not multiplexed (TTY mode)', async () => {
    const demuxer = new DockerStreamDemuxer();
    const failed = new Promise<Error>((resolve) => demuxer.once('error', resolve));
    demuxer.write(Buffer.from('plain text output from a tty'));
    expect((await failed).message).toMatch(/not multiplexed/);
  });
});
