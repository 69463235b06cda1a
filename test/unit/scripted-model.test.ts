import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { scenarioPrompt, startScriptedModel } from '../support/scripted-model.js';
import type { ScriptedModel } from '../support/scripted-model.js';

type Message = { role: string; content: unknown };
interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

let model: ScriptedModel;

beforeAll(async () => {
  model = await startScriptedModel();
});

afterAll(async () => {
  await model.close();
});

function post(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${model.url}/v1/messages?beta=true`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'test-key', ...headers },
    body: JSON.stringify(body),
  });
}

function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => {
      const event = /^event: (.*)$/m.exec(frame)?.[1] ?? '';
      const data = JSON.parse(/^data: (.*)$/m.exec(frame)?.[1] ?? 'null') as Record<string, unknown>;
      return { event, data };
    });
}

/** Rebuilds the content blocks a client would assemble from the deltas. */
function assemble(events: SseEvent[]): Array<Record<string, unknown>> {
  const blocks: Array<Record<string, unknown>> = [];
  const json: string[] = [];
  for (const { data } of events) {
    const index = data.index as number;
    if (data.type === 'content_block_start') {
      blocks[index] = { ...(data.content_block as Record<string, unknown>) };
      json[index] = '';
    } else if (data.type === 'content_block_delta') {
      const delta = data.delta as { type: string; text?: string; partial_json?: string };
      const block = blocks[index] as Record<string, unknown>;
      if (delta.type === 'text_delta') block.text = `${String(block.text)}${delta.text ?? ''}`;
      else json[index] += delta.partial_json ?? '';
    } else if (data.type === 'content_block_stop' && blocks[index]?.type === 'tool_use') {
      (blocks[index] as Record<string, unknown>).input = JSON.parse(json[index] ?? '{}');
    }
  }
  return blocks;
}

const user = (text: string): Message => ({ role: 'user', content: [{ type: 'text', text: '<system-reminder>x</system-reminder>' }, { type: 'text', text }] });
const assistant = (text: string): Message => ({ role: 'assistant', content: [{ type: 'text', text }] });
const toolResult = (text: string): Message => ({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: text }] });

describe('scripted model', () => {
  it('streams a text step in the Messages API event order, echoing the model', async () => {
    model.scenario('text-one', [{ kind: 'text', text: 'Hello there' }], { usage: { input_tokens: 7, output_tokens: 3 } });
    const res = await post({ model: 'claude-sonnet-4-5', stream: true, messages: [user(scenarioPrompt('text-one', 'hi'))] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = parseSse(await res.text());
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(events.every((e) => e.event === e.data.type)).toBe(true);
    expect((events[0]?.data.message as { model: string }).model).toBe('claude-sonnet-4-5');
    expect(assemble(events)).toEqual([{ type: 'text', text: 'Hello there' }]);
    expect(events[5]?.data).toMatchObject({ delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 3 } });
    expect(model.requestsFor('text-one')).toMatchObject([{ method: 'POST', path: '/v1/messages?beta=true', step: 0, headers: { 'x-api-key': 'test-key' } }]);
  });

  it('streams a tool step as text plus a tool_use whose input arrives in pieces', async () => {
    const input = { file_path: 'hello.txt', content: 'hello\n' };
    model.scenario('tool-one', [{ kind: 'tool', name: 'Write', input, text: 'Writing.' }]);
    const events = parseSse(await (await post({ model: 'm', stream: true, messages: [user(scenarioPrompt('tool-one', 'go'))] })).text());
    const blocks = assemble(events);
    expect(blocks).toEqual([
      { type: 'text', text: 'Writing.' },
      { type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'Write', input },
    ]);
    expect(events.filter((e) => (e.data.delta as { type?: string } | undefined)?.type === 'input_json_delta').length).toBe(2);
    expect(events.find((e) => e.event === 'message_delta')?.data).toMatchObject({ delta: { stop_reason: 'tool_use' } });
  });

  it('answers the step given by the assistant turns after the latest marked prompt', async () => {
    model.scenario('steps', [
      { kind: 'text', text: 'zero' },
      { kind: 'text', text: 'one' },
    ]);
    model.scenario('other', [{ kind: 'text', text: 'other zero' }]);
    const prompt = user(scenarioPrompt('steps', 'go'));
    const system: Message = { role: 'system', content: 'env' };
    const ask = async (messages: Message[]): Promise<unknown> => {
      const body = (await (await post({ model: 'm', stream: false, messages })).json()) as { content: Array<{ text: string }> };
      return body.content[0]?.text;
    };
    expect(await ask([prompt, system])).toBe('zero');
    // One reply split over two assistant messages is still one turn; tool results may quote markers.
    expect(await ask([prompt, system, assistant('a'), assistant('b'), toolResult('[[scenario:other]]')])).toBe('one');
    expect(await ask([prompt, assistant('a'), user('next'), assistant('b'), user('more')])).toBe('done');
    // A resumed conversation brings its own marker.
    expect(await ask([prompt, assistant('a'), assistant('b'), user(scenarioPrompt('other', 'again'))])).toBe('other zero');
    expect(model.requestsFor('steps').map((r) => r.step)).toEqual([0, 1, null]);
  });

  it('repeats the last step with fresh tool ids when asked', async () => {
    model.scenario('forever', [{ kind: 'tool', name: 'Bash', input: { command: 'true' } }], { repeatLast: true });
    const prompt = user(scenarioPrompt('forever', 'loop'));
    const ids: unknown[] = [];
    let messages: Message[] = [prompt];
    for (let i = 0; i < 3; i += 1) {
      const body = (await (await post({ model: 'm', messages })).json()) as { stop_reason: string; content: Array<{ id: string }> };
      expect(body.stop_reason).toBe('tool_use');
      ids.push(body.content[0]?.id);
      messages = [...messages, assistant('call'), toolResult('ok')];
    }
    expect(new Set(ids).size).toBe(3);
    expect(model.requestsFor('forever').map((r) => r.step)).toEqual([0, 0, 0]);
  });

  it('gives side requests and unknown scenarios a short text without a step', async () => {
    const side = (await (await post({ model: 'claude-haiku-4-5', messages: [user('Write a title for this chat')] })).json()) as Record<string, unknown>;
    expect(side).toMatchObject({ model: 'claude-haiku-4-5', stop_reason: 'end_turn', content: [{ type: 'text', text: 'ok' }] });
    await post({ model: 'm', messages: [user(scenarioPrompt('never-registered', 'x'))] });
    expect(model.requests.slice(-2).map((r) => [r.scenario, r.step])).toEqual([
      [null, null],
      ['never-registered', null],
    ]);
  });

  it('answers HTTP errors, transient ones only `times` times', async () => {
    model.scenario('busy', [
      { kind: 'http-error', status: 529, type: 'overloaded_error', message: 'Overloaded', times: 2 },
      { kind: 'text', text: 'finally' },
    ]);
    model.scenario('denied', [{ kind: 'http-error', status: 401, type: 'authentication_error', message: 'invalid x-api-key' }]);
    const busy = { model: 'm', messages: [user(scenarioPrompt('busy', 'x'))] };
    expect((await post(busy)).status).toBe(529);
    const second = await post(busy);
    expect(second.status).toBe(529);
    expect(await second.json()).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    expect(await ((await post(busy)).json() as Promise<{ content: Array<{ text: string }> }>).then((b) => b.content[0]?.text)).toBe('finally');
    const denied = { model: 'm', messages: [user(scenarioPrompt('denied', 'x'))] };
    for (let i = 0; i < 3; i += 1) expect((await post(denied)).status).toBe(401);
  });

  it('breaks a stream with an error event, and fails the non-streaming retry with the matching status', async () => {
    model.scenario('broken', [{ kind: 'sse-error', type: 'overloaded_error', message: 'Overloaded mid-stream' }]);
    const messages = [user(scenarioPrompt('broken', 'x'))];
    const events = parseSse(await (await post({ model: 'm', stream: true, messages })).text());
    expect(events.map((e) => e.event)).toEqual(['message_start', 'error']);
    expect(events[1]?.data).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded mid-stream' } });
    expect((await post({ model: 'm', stream: false, messages })).status).toBe(529);
  });

  it('delays a reply server-side', async () => {
    model.scenario('slow', [{ kind: 'text', text: 'late', delayMs: 300 }]);
    const started = Date.now();
    const res = await post({ model: 'm', messages: [user(scenarioPrompt('slow', 'x'))] });
    expect(((await res.json()) as { content: Array<{ text: string }> }).content[0]?.text).toBe('late');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('answers probes and count_tokens, and 404s anything else', async () => {
    expect((await fetch(`${model.url}/`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${model.url}/api/hello`, { method: 'HEAD' })).status).toBe(404);
    const count = await fetch(`${model.url}/v1/messages/count_tokens`, { method: 'POST', body: '{}' });
    expect(await count.json()).toEqual({ input_tokens: 100 });
    const missing = await fetch(`${model.url}/v1/models`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });

  it('rejects scenario names the marker cannot carry', () => {
    expect(() => scenarioPrompt('has space', 'x')).toThrow(/scenario name/);
    expect(() => model.scenario('a]]b', [])).toThrow(/scenario name/);
  });
});

describe('scripted model shutdown', () => {
  it('close() ends pending delayed replies and leaves no timers behind', async () => {
    const server = await startScriptedModel();
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    server.scenario('stuck', [{ kind: 'text', text: 'never', delayMs: 60_000 }]);
    const pending = fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', messages: [user(scenarioPrompt('stuck', 'x'))] }),
    }).then(
      () => 'answered',
      () => 'aborted',
    );
    await expect.poll(() => server.requestsFor('stuck').length).toBe(1);
    await server.close();
    await server.close();
    expect(await pending).toBe('aborted');
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(timersBefore);
  });
});
