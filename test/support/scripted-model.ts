// Scripted Anthropic Messages API for tests: the only model double allowed,
// since no real model is reachable here. The real `claude` CLI talks to it
// through ANTHROPIC_BASE_URL. Replies are chosen per task by a scenario
// marker in the prompt, and the step to answer is derived from the
// conversation itself (how many assistant turns it already holds), so the
// server is stateless across retries, resumes and concurrent tasks.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

export type ScriptStep =
  // Assistant text, stop_reason end_turn.
  | { kind: 'text'; text: string; delayMs?: number }
  // One tool_use block (after optional text), stop_reason tool_use.
  | { kind: 'tool'; name: string; input: Record<string, unknown>; text?: string; delayMs?: number }
  // An HTTP error with an Anthropic-shaped body. With `times`, the error is
  // transient: it answers the first `times` requests at its position and then
  // steps aside for the next step (to exercise the CLI's retries).
  | { kind: 'http-error'; status: number; type: string; message: string; times?: number }
  // A 200 SSE stream that breaks off with an `error` event. `times` as above.
  | { kind: 'sse-error'; type: string; message: string; times?: number };

export interface ScenarioOptions {
  /** Past the last step, answer with the last step again (fresh tool_use ids). Default: reply "done". */
  repeatLast?: boolean;
  /** Usage reported for every reply of this scenario. Default 100 in / 20 out. */
  usage?: Usage;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body, the raw text if it was not JSON, or null when empty. */
  body: unknown;
  scenario: string | null;
  /** Index into the scenario's steps that answered; null for side requests and past-the-end replies. */
  step: number | null;
  at: number;
}

export interface ScriptedModel {
  url: string;
  port: number;
  requests: RecordedRequest[];
  scenario(name: string, steps: ScriptStep[], opts?: ScenarioOptions): void;
  requestsFor(name: string): RecordedRequest[];
  close(): Promise<void>;
}

interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

interface Scenario {
  steps: ScriptStep[];
  opts: ScenarioOptions;
  /** Requests already answered by each transient error step, by step index. */
  errorHits: Map<number, number>;
}

type Reply =
  | { kind: 'message'; content: ContentBlock[]; stopReason: 'end_turn' | 'tool_use'; delayMs: number; usage: Usage }
  | { kind: 'http-error'; status: number; type: string; message: string }
  | { kind: 'sse-error'; type: string; message: string };

type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

const MARKER = /\[\[scenario:([A-Za-z0-9_.-]+)\]\]/;
const SCENARIO_NAME = /^[A-Za-z0-9_.-]+$/;
const DEFAULT_USAGE: Usage = { input_tokens: 100, output_tokens: 20 };
const DEFAULT_MODEL = 'claude-sonnet-4-5';
const SIDE_REQUEST_TEXT = 'ok';
const PAST_END_TEXT = 'done';
const MAX_RECORDED_TEXT_CHARS = 1024 * 1024;
/** How a recorded non-JSON body over 1 MiB reads: `[body not kept: <n> chars]`. */
export const NOT_KEPT_PREFIX = '[body not kept: ';

/** Embeds the scenario marker the scripted model looks for in a prompt. */
export function scenarioPrompt(name: string, text: string): string {
  assertScenarioName(name);
  return `${text}\n\n[[scenario:${name}]]`;
}

/**
 * Loopback on an ephemeral port by default; the compose test's model service listens on its network.
 * `acceptKeys`: as the real API does, a message request whose x-api-key is not one of these is answered
 * 401 authentication_error "invalid x-api-key" (default: any key is accepted).
 */
export async function startScriptedModel(listen: { host?: string; port?: number; acceptKeys?: string[] } = {}): Promise<ScriptedModel> {
  const host = listen.host ?? '127.0.0.1';
  const scenarios = new Map<string, Scenario>();
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  let toolCounter = 0;
  let messageCounter = 0;

  const nextToolId = (): string => `toolu_${(++toolCounter).toString().padStart(4, '0')}${randomBytes(6).toString('hex')}`;
  const nextMessageId = (): string => `msg_${(++messageCounter).toString().padStart(4, '0')}${randomBytes(6).toString('hex')}`;

  function chooseReply(body: unknown): { scenario: string | null; step: number | null; reply: Reply } {
    const found = findScenario(body);
    const scenario = found ? scenarios.get(found.name) : undefined;
    if (!found || !scenario) {
      // Side requests (titles, topics, anything the CLI sends on its own) and
      // prompts naming an unknown scenario get a harmless text.
      return { scenario: found?.name ?? null, step: null, reply: textReply(SIDE_REQUEST_TEXT, DEFAULT_USAGE) };
    }
    const usage = withinMaxTokens(scenario.opts.usage ?? DEFAULT_USAGE, body);
    const index = stepIndexFor(scenario, found.position);
    if (index === null) return { scenario: found.name, step: null, reply: textReply(PAST_END_TEXT, usage) };
    const step = scenario.steps[index];
    if (!step) return { scenario: found.name, step: null, reply: textReply(PAST_END_TEXT, usage) };
    if ((step.kind === 'http-error' || step.kind === 'sse-error') && step.times !== undefined) {
      scenario.errorHits.set(index, (scenario.errorHits.get(index) ?? 0) + 1);
    }
    return { scenario: found.name, step: index, reply: replyFor(step, usage) };
  }

  function replyFor(step: ScriptStep, usage: Usage): Reply {
    switch (step.kind) {
      case 'text':
        return { ...textReply(step.text, usage), delayMs: step.delayMs ?? 0 };
      case 'tool': {
        const content: ContentBlock[] = [];
        if (step.text) content.push({ type: 'text', text: step.text });
        content.push({ type: 'tool_use', id: nextToolId(), name: step.name, input: step.input });
        return { kind: 'message', content, stopReason: 'tool_use', delayMs: step.delayMs ?? 0, usage };
      }
      case 'http-error':
        return { kind: 'http-error', status: step.status, type: step.type, message: step.message };
      case 'sse-error':
        return { kind: 'sse-error', type: step.type, message: step.message };
      default:
        return assertNever(step);
    }
  }

  function handle(req: IncomingMessage, res: ServerResponse, raw: string): void {
    const path = req.url ?? '/';
    const body = parseBody(raw);
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      headers: { ...req.headers },
      // A flood of large bodies must not pile up in the test process: such a body is recorded by its size.
      body: typeof body === 'string' && body.length > MAX_RECORDED_TEXT_CHARS ? `${NOT_KEPT_PREFIX}${body.length} chars]` : body,
      scenario: null,
      step: null,
      at: Date.now(),
    };
    requests.push(record);
    const pathname = path.split('?')[0];

    if (req.method === 'POST' && pathname === '/v1/messages/count_tokens') {
      sendJson(res, 200, { input_tokens: DEFAULT_USAGE.input_tokens });
      return;
    }
    if (req.method !== 'POST' || pathname !== '/v1/messages') {
      // Reachability probes (HEAD /, /api/hello, ...) only need an answer.
      if (req.method === 'HEAD') {
        res.writeHead(pathname === '/' ? 200 : 404).end();
        return;
      }
      sendJson(res, 404, errorBody('not_found_error', `scripted model: no route for ${req.method} ${pathname}`));
      return;
    }

    const key = req.headers['x-api-key'];
    if (listen.acceptKeys && !(typeof key === 'string' && listen.acceptKeys.includes(key))) {
      sendJson(res, 401, errorBody('authentication_error', 'invalid x-api-key'));
      return;
    }
    const { scenario, step, reply } = chooseReply(body);
    record.scenario = scenario;
    record.step = step;
    const model = modelOf(body);
    const stream = isRecord(body) && body.stream === true;

    switch (reply.kind) {
      case 'http-error':
        sendJson(res, reply.status, errorBody(reply.type, reply.message));
        return;
      case 'sse-error':
        // The CLI retries a broken stream once without streaming; that retry
        // gets the same failure as a plain HTTP error, as the real API would.
        if (stream) sendSseError(res, model, reply, nextMessageId());
        else sendJson(res, statusForErrorType(reply.type), errorBody(reply.type, reply.message));
        return;
      case 'message': {
        const send = (): void => {
          if (res.destroyed) return;
          if (stream) sendSseMessage(res, model, reply, nextMessageId());
          else sendJson(res, 200, messageJson(model, reply, nextMessageId()));
        };
        if (reply.delayMs <= 0) {
          send();
          return;
        }
        const timer = setTimeout(() => {
          timers.delete(timer);
          send();
        }, reply.delayMs);
        timers.add(timer);
        // A client that gives up (a cancelled task) must not leave a timer behind.
        res.on('close', () => {
          clearTimeout(timer);
          timers.delete(timer);
        });
        return;
      }
      default:
        assertNever(reply);
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        handle(req, res, Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (!res.headersSent) sendJson(res, 500, errorBody('api_error', `scripted model failed: ${message}`));
        else res.destroy();
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${host}:${port}`,
    port,
    requests,
    scenario(name, steps, opts = {}) {
      assertScenarioName(name);
      if (steps.length === 0 && opts.repeatLast) throw new Error(`scenario ${name}: repeatLast needs at least one step`);
      scenarios.set(name, { steps, opts, errorHits: new Map() });
    },
    requestsFor(name) {
      return requests.filter((r) => r.scenario === name);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

/**
 * Maps a conversation position (assistant turns already answered) to a step.
 * Transient errors (`times` set) occupy no position: they answer first, then
 * step aside once spent. Returns null past the end without repeatLast.
 */
function stepIndexFor(scenario: Scenario, position: number): number | null {
  const { steps, opts, errorHits } = scenario;
  let seen = 0;
  let lastAnswering: number | null = null;
  for (let i = 0; i < steps.length; i += 1) {
    const step = steps[i];
    if (!step) continue;
    const transient = (step.kind === 'http-error' || step.kind === 'sse-error') && step.times !== undefined;
    if (transient) {
      if (seen === position && (errorHits.get(i) ?? 0) < (step.times ?? 0)) return i;
      continue;
    }
    if (seen === position) return i;
    seen += 1;
    lastAnswering = i;
  }
  return opts.repeatLast ? lastAnswering : null;
}

/**
 * Finds the latest user prompt carrying a marker (the first prompt of a fresh
 * run; a resumed run may bring its own) and counts the assistant turns after
 * it. Only plain text counts as a prompt: tool results may quote a marker.
 */
function findScenario(body: unknown): { name: string; position: number } | null {
  if (!isRecord(body) || !Array.isArray(body.messages)) return null;
  const messages: unknown[] = body.messages;
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const message = messages[i];
    if (!isRecord(message) || message.role !== 'user') continue;
    const name = markerIn(message.content);
    if (name) return { name, position: assistantTurns(messages.slice(i + 1)) };
  }
  return null;
}

function markerIn(content: unknown): string | null {
  if (typeof content === 'string') return MARKER.exec(content)?.[1] ?? null;
  if (!Array.isArray(content)) return null;
  for (const block of content) {
    if (isRecord(block) && block.type === 'text' && typeof block.text === 'string') {
      const name = MARKER.exec(block.text)?.[1];
      if (name) return name;
    }
  }
  return null;
}

/** Consecutive assistant messages (the CLI may split one reply) count as one turn. */
function assistantTurns(messages: unknown[]): number {
  let turns = 0;
  let previous: string | null = null;
  for (const message of messages) {
    if (!isRecord(message) || typeof message.role !== 'string') continue;
    if (message.role === 'system') continue;
    if (message.role === 'assistant' && previous !== 'assistant') turns += 1;
    previous = message.role;
  }
  return turns;
}

type MessageReply = Extract<Reply, { kind: 'message' }>;

/** A real model never answers with more output than the call's max_tokens, so neither does this one. */
function withinMaxTokens(usage: Usage, body: unknown): Usage {
  const maxTokens = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['max_tokens'] : undefined;
  if (typeof maxTokens !== 'number' || maxTokens <= 0 || usage.output_tokens <= maxTokens) return usage;
  return { ...usage, output_tokens: maxTokens };
}

function textReply(text: string, usage: Usage): MessageReply {
  return { kind: 'message', content: [{ type: 'text', text }], stopReason: 'end_turn', delayMs: 0, usage };
}

function messageJson(model: string, reply: MessageReply, id: string): Record<string, unknown> {
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content: reply.content,
    stop_reason: reply.stopReason,
    stop_sequence: null,
    usage: fullUsage(reply.usage),
  };
}

function sendSseMessage(res: ServerResponse, model: string, reply: MessageReply, id: string): void {
  res.writeHead(200, sseHeaders());
  const usage = fullUsage(reply.usage);
  writeEvent(res, 'message_start', {
    type: 'message_start',
    message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } },
  });
  reply.content.forEach((block, index) => {
    if (block.type === 'text') {
      writeEvent(res, 'content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      for (const piece of splitInTwo(block.text)) {
        writeEvent(res, 'content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } });
      }
    } else {
      writeEvent(res, 'content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
      });
      // Split the JSON so the client really has to reassemble partial_json.
      for (const piece of splitInTwo(JSON.stringify(block.input))) {
        writeEvent(res, 'content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } });
      }
    }
    writeEvent(res, 'content_block_stop', { type: 'content_block_stop', index });
  });
  writeEvent(res, 'message_delta', {
    type: 'message_delta',
    delta: { stop_reason: reply.stopReason, stop_sequence: null },
    usage: { output_tokens: usage.output_tokens },
  });
  writeEvent(res, 'message_stop', { type: 'message_stop' });
  res.end();
}

function sendSseError(res: ServerResponse, model: string, reply: Extract<Reply, { kind: 'sse-error' }>, id: string): void {
  res.writeHead(200, sseHeaders());
  writeEvent(res, 'message_start', {
    type: 'message_start',
    message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: fullUsage(DEFAULT_USAGE) },
  });
  writeEvent(res, 'error', errorBody(reply.type, reply.message));
  res.end();
}

const STATUS_BY_ERROR_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 529,
};

function statusForErrorType(type: string): number {
  return STATUS_BY_ERROR_TYPE[type] ?? 500;
}

function fullUsage(usage: Usage): Required<Usage> {
  return {
    input_tokens: usage.input_tokens,
    output_tokens: usage.output_tokens,
    cache_creation_input_tokens: usage.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: usage.cache_read_input_tokens ?? 0,
  };
}

function splitInTwo(text: string): string[] {
  if (text.length < 2) return [text];
  const middle = Math.floor(text.length / 2);
  return [text.slice(0, middle), text.slice(middle)];
}

function sseHeaders(): Record<string, string> {
  return { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_scripted_${randomBytes(6).toString('hex')}` };
}

function writeEvent(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_scripted_${randomBytes(6).toString('hex')}` });
  res.end(JSON.stringify(body));
}

function errorBody(type: string, message: string): Record<string, unknown> {
  return { type: 'error', error: { type, message } };
}

function modelOf(body: unknown): string {
  return isRecord(body) && typeof body.model === 'string' && body.model !== '' ? body.model : DEFAULT_MODEL;
}

function parseBody(raw: string): unknown {
  if (raw === '') return null;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function assertScenarioName(name: string): void {
  if (!SCENARIO_NAME.test(name)) throw new Error(`scenario name must match ${SCENARIO_NAME.source}: ${JSON.stringify(name)}`);
}

function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
