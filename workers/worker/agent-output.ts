import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { StreamRecord } from '../claude/types.js';
import { createStreamParser } from '../claude/stream-parser.js';
import type { EventSink } from './event-sink.js';
import { NO_REDACTION, type Redactor } from './secret-redaction.js';
import type { StderrTail } from './stderr-tail.js';

/** Most of one stderr chunk kept in its event. */
const MAX_STDERR_EVENT_CHARS = 8192;
/** end() waits this long for both streams to be read to their end (the runner has ended them by then). */
const END_WAIT_MS = 10_000;

export interface AgentOutputOptions {
  stdout: Readable;
  stderr: Readable;
  sink: EventSink;
  /** Sees every record, stored or not (the run's facts come from the whole stream). */
  onRecord: (record: StreamRecord) => void;
  stderrTail: StderrTail;
  /** Known secret values to replace before anything is stored or observed. Default: none. */
  redactor?: Redactor;
}

/**
 * Reads the sandbox's stdout (stream-json lines) and stderr into the sink. Both streams must be consumed:
 * the runner applies backpressure like child_process. That backpressure is what bounds the sink's memory:
 * while the sink is saturated (Postgres slower than the agent prints) both streams are paused, so the
 * container blocks on its full pipe instead of the worker buffering the flood.
 */
export interface AgentOutput {
  /**
   * The container has exited: read the rest at once, saturated or not. What is still in transit (pipe and
   * engine buffers) is bounded, and the runner waits for it only so long before it cuts the stream.
   */
  release(): void;
  /**
   * Once the sandbox's streams are ended (after its wait()): reads what they still hold, paused or not,
   * then flushes a last line that had no newline.
   */
  end(): Promise<void>;
}

export function pumpAgentOutput(o: AgentOutputOptions): AgentOutput {
  const redactor = o.redactor ?? NO_REDACTION;
  const parser = createStreamParser((parsed) => {
    const record = redactor.record(parsed);
    o.onRecord(record);
    o.sink.pushOutput('claude', record);
  });
  let paused = false;
  let released = false;
  // Output that arrives after end() (a stream that outlived its deadline) is dropped, never a throw.
  let ended = false;
  const holdWhileSaturated = (): void => {
    if (released || paused || !o.sink.saturated) return;
    paused = true;
    o.stdout.pause();
    o.stderr.pause();
    void o.sink.whenDrained().then(() => {
      if (!paused) return;
      paused = false;
      o.stdout.resume();
      o.stderr.resume();
    });
  };
  o.stdout.on('data', (chunk: Buffer) => {
    if (ended) return;
    parser.push(chunk);
    holdWhileSaturated();
  });
  o.stderr.on('data', (chunk: Buffer) => {
    if (ended) return;
    const text = redactor.text(chunk.toString('utf8'));
    o.stderrTail.push(text);
    o.sink.pushOutput('stderr', { text: text.slice(0, MAX_STDERR_EVENT_CHARS) });
    holdWhileSaturated();
  });
  const release = (): void => {
    released = true;
    if (!paused) return;
    paused = false;
    o.stdout.resume();
    o.stderr.resume();
  };
  return {
    release,
    end: async () => {
      // An ended stream may still hold its last chunks unread (it was paused): they are read first.
      release();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, END_WAIT_MS);
        timer.unref();
      });
      const read = Promise.all([o.stdout, o.stderr].map((s) => finished(s, { writable: false }).catch(() => {})));
      await Promise.race([read, deadline]);
      clearTimeout(timer);
      ended = true;
      parser.end();
    },
  };
}
