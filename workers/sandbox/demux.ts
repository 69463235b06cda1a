import { PassThrough, Writable } from 'node:stream';

// Splits Docker's multiplexed attach stream (8-byte header: stream type, 3 zero
// bytes, uint32 big-endian length; then the payload) into stdout and stderr.
// Unlike dockerode's demuxStream it keeps backpressure: a slow reader slows the
// container down instead of growing an unbounded buffer in the worker. As with
// child_process, a caller must therefore read (or resume()) both outputs.

const HEADER_BYTES = 8;
const STREAM_STDOUT = 1;
const STREAM_STDERR = 2;

export class DockerStreamDemuxer extends Writable {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  #header = Buffer.alloc(0);
  #target: PassThrough | null = null;
  #remaining = 0;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const blocked = new Set<PassThrough>();
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#remaining === 0) {
        const need = HEADER_BYTES - this.#header.length;
        this.#header = Buffer.concat([this.#header, chunk.subarray(offset, offset + need)]);
        offset += need;
        if (this.#header.length < HEADER_BYTES) break;
        const type = this.#header.readUInt8(0);
        if (type > STREAM_STDERR) {
          callback(new Error(`docker attach stream is not multiplexed (stream type ${type}); was the container created with a TTY?`));
          return;
        }
        // stdin frames (type 0) never carry container output: drop them.
        this.#target = type === STREAM_STDOUT ? this.stdout : type === STREAM_STDERR ? this.stderr : null;
        this.#remaining = this.#header.readUInt32BE(4);
        this.#header = Buffer.alloc(0);
        continue;
      }
      // Pass partial frames through as they come rather than reassembling them.
      const take = Math.min(this.#remaining, chunk.length - offset);
      const payload = chunk.subarray(offset, offset + take);
      offset += take;
      this.#remaining -= take;
      // A reader that destroyed its output no longer wants it: drop, never stall.
      if (this.#target && !this.#target.destroyed && !this.#target.write(payload)) blocked.add(this.#target);
    }
    if (blocked.size === 0) {
      callback();
      return;
    }
    let waiting = blocked.size;
    for (const target of blocked) {
      const release = (): void => {
        target.off('drain', release);
        target.off('close', release);
        waiting -= 1;
        if (waiting === 0) callback();
      };
      target.on('drain', release);
      target.on('close', release);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.endOutputs();
    callback();
  }

  /** Ends both outputs; safe to call more than once (also used after a broken attach). */
  endOutputs(): void {
    if (!this.stdout.writableEnded) this.stdout.end();
    if (!this.stderr.writableEnded) this.stderr.end();
  }
}
