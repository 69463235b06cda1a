/** Where a command writes: stdout or stderr, with what the renderer needs to know about the terminal. */
export interface Output {
  write(text: string): void;
  readonly isTTY: boolean;
  readonly columns: number | undefined;
}

/** What a command reads: stdin (a TTY for prompts, or piped for `--password-stdin` and `-` prompts). */
export type Input = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };

/** Everything the client touches outside itself, passed in so that commands run the same in tests. */
export interface ClientIo {
  stdout: Output;
  stderr: Output;
  stdin: Input;
  env: Record<string, string | undefined>;
  /** Registers a Ctrl-C handler for the duration of a command; returns the function that removes it. */
  onInterrupt(handler: () => void): () => void;
}

function streamOutput(stream: NodeJS.WriteStream): Output {
  return {
    write: (text) => void stream.write(text),
    get isTTY() {
      return stream.isTTY === true;
    },
    get columns() {
      return stream.isTTY ? stream.columns : undefined;
    },
  };
}

export function processIo(): ClientIo {
  return {
    stdout: streamOutput(process.stdout),
    stderr: streamOutput(process.stderr),
    stdin: process.stdin,
    env: process.env,
    onInterrupt(handler) {
      process.once('SIGINT', handler);
      return () => void process.off('SIGINT', handler);
    },
  };
}
