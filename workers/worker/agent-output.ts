import type { Readable } from 'node:stream';
import type { StreamRecord } from '../claude/types.js';
import { createStreamParser } from '../claude/stream-parser.js';
import type { EventSink } from './event-sink.js';
import type { StderrTail } from './stderr-tail.js';

/** Most of one stderr chunk kept in its event. */
const MAX_STDERR_EVENT_CHARS = 8192;

export interface AgentOutputOptions {
  stdout: Readable;
  stderr: Readable;
  sink: EventSink;
  /** Sees every record, stored or not (the run's facts come from the whole stream). */
  onRecord: (record: StreamRecord) => void;
  stderrTail: StderrTail;
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
  /** Flushes a last line that had no newline. */
  end(): void;
}

export function pumpAgentOutput(o: AgentOutputOptions): AgentOutput {
  const parser = createStreamParser((record) => {
    o.onRecord(record);
    o.sink.pushOutput('claude', record);
  });
  let paused = false;
  let released = false;
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
    parser.push(chunk);
    holdWhileSaturated();
  });
  o.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    o.stderrTail.push(text);
    o.sink.pushOutput('stderr', { text: text.slice(0, MAX_STDERR_EVENT_CHARS) });
    holdWhileSaturated();
  });
  return {
    release: () => {
      released = true;
      if (!paused) return;
      paused = false;
      o.stdout.resume();
      o.stderr.resume();
    },
    end: () => parser.end(),
  };
}
