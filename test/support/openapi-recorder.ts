import { readResponse, type ApiResponse } from './api-client.js';
import { operationsOf, type Operation } from './fuzz/operations.js';
import { ResponseChecker } from './fuzz/response-check.js';

/**
 * Checks real responses against the OpenAPI document and remembers which operation answered which status,
 * so a test can tell which documented routes it never exercised. Operations are named as the document
 * names them: `GET /api/v1/tasks/{id}`.
 */
export class ResponseRecorder {
  readonly #operations = new Map<string, Operation>();
  readonly #checker = new ResponseChecker();
  readonly #seen = new Map<string, Set<number>>();
  readonly problems: string[] = [];

  constructor(document: { paths: Record<string, Record<string, unknown>> }) {
    for (const op of operationsOf(document)) this.#operations.set(op.id, op);
  }

  get operationIds(): string[] {
    return [...this.#operations.keys()];
  }

  /** Reads `res`, judges it as an answer of `operationId`, and records its status. */
  async record(operationId: string, res: Response): Promise<ApiResponse> {
    const op = this.#operations.get(operationId);
    if (!op) throw new Error(`${operationId} is not in the document`);
    const read = await readResponse(res);
    const found = this.#checker.problems(op, { status: read.status, contentType: read.headers.get('content-type') ?? '', text: read.text });
    // The fuzz holds every 5xx to be a bug; here a 5xx the route documents (Redis away, a provider down) is an answer like any other.
    const documented5xx = read.status >= 500 && op.responses[String(read.status)] !== undefined;
    for (const p of found.filter((f) => !(documented5xx && f.startsWith('server error')))) this.problems.push(`${operationId} ${read.status}: ${p} (body: ${read.text.slice(0, 200)})`);
    const statuses = this.#seen.get(operationId) ?? new Set<number>();
    statuses.add(read.status);
    this.#seen.set(operationId, statuses);
    return read;
  }

  statusesOf(operationId: string): number[] {
    return [...(this.#seen.get(operationId) ?? [])].sort();
  }

  /** Documented statuses of `operationId` never seen, each as `GET /x 404`. */
  missing(operationId: string, documented: readonly number[]): string[] {
    const seen = this.#seen.get(operationId) ?? new Set<number>();
    return documented.filter((s) => !seen.has(s)).map((s) => `${operationId} ${s}`);
  }
}
