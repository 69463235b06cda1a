/** Keeps only the last `maxChars` of a stream, for error messages. */
export class StderrTail {
  #text = '';
  constructor(private readonly maxChars: number) {}

  push(chunk: string): void {
    this.#text = (this.#text + chunk).slice(-this.maxChars);
  }

  get text(): string {
    return this.#text;
  }
}
