// Shapes of the lines `claude -p --output-format stream-json --verbose`
// prints (CLI 2.1.x, as observed). Only the fields this project reads are
// typed; every message keeps all its other fields (index signature), and
// lines of an unknown type are kept as OtherMessage, never dropped.

export interface Usage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  [key: string]: unknown;
}

export interface TextBlock {
  type: 'text';
  text: string;
}

export interface ToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: unknown;
}

export interface ToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  /** A string, or text/image blocks. */
  content?: unknown;
  is_error?: boolean;
}

/** Thinking, images and block types newer CLIs add. */
export interface OtherBlock {
  type: string;
  [key: string]: unknown;
}

export type ContentBlock = TextBlock | ToolUseBlock | ToolResultBlock | OtherBlock;

/** First line: the session the run writes to and what it runs with. */
export interface SystemInitMessage {
  type: 'system';
  subtype: 'init';
  session_id: string;
  model: string;
  tools: string[];
  cwd?: string;
  permissionMode?: string;
  claude_code_version?: string;
  apiKeySource?: string;
  [key: string]: unknown;
}

/** An API call failed and the CLI will retry it (CLAUDE_CODE_MAX_RETRIES bounds these). */
export interface ApiRetryMessage {
  type: 'system';
  subtype: 'api_retry';
  attempt: number;
  max_retries: number;
  retry_delay_ms: number;
  /** HTTP status, e.g. 401, 529; null for connection errors. */
  error_status: number | null;
  /** e.g. `authentication_failed`, `overloaded`. */
  error: string;
  session_id: string;
  [key: string]: unknown;
}

/**
 * One assistant content block per line: a reply with text and a tool call
 * arrives as two lines sharing `message.id`. API failures arrive as a
 * synthetic message (model `<synthetic>`) whose text is the CLI's own error
 * message and whose `error` names the kind, e.g. `authentication_failed`.
 */
export interface AssistantMessage {
  type: 'assistant';
  message: {
    id?: string;
    model?: string;
    role?: 'assistant';
    content: ContentBlock[];
    stop_reason?: string | null;
    usage?: Usage;
    [key: string]: unknown;
  };
  session_id: string;
  parent_tool_use_id?: string | null;
  error?: string;
  is_api_error_message?: boolean;
  api_error_status?: number | null;
  [key: string]: unknown;
}

/** Tool results (and interruption notices) fed back to the model. */
export interface UserMessage {
  type: 'user';
  message: {
    role?: 'user';
    content: string | ContentBlock[];
    [key: string]: unknown;
  };
  session_id: string;
  parent_tool_use_id?: string | null;
  [key: string]: unknown;
}

export const RESULT_SUBTYPES = ['success', 'error_max_turns', 'error_during_execution', 'error_max_budget_usd'] as const;
export type ResultSubtype = (typeof RESULT_SUBTYPES)[number];

export interface PermissionDenial {
  tool_name: string;
  tool_use_id: string;
  tool_input: unknown;
}

/**
 * Last line of a run. Note: API failures (401, 529, ...) end with subtype
 * `success` and `is_error: true`; error subtypes carry `errors` instead of
 * `result`. On `--resume`, total_cost_usd and modelUsage include the resumed
 * session's earlier runs.
 */
export interface ResultMessage {
  type: 'result';
  /** A ResultSubtype, or a subtype newer CLIs add. */
  subtype: string;
  is_error: boolean;
  result?: string;
  errors?: string[];
  num_turns: number;
  total_cost_usd: number;
  duration_ms: number;
  duration_api_ms?: number;
  session_id: string;
  usage?: Usage;
  modelUsage?: Record<string, Record<string, unknown>>;
  permission_denials?: PermissionDenial[];
  stop_reason?: string | null;
  /** e.g. `completed`, `max_turns`, `budget_exhausted`, `api_error`, `aborted_streaming`. */
  terminal_reason?: string;
  api_error_status?: number | null;
  api_error_type?: string;
  [key: string]: unknown;
}

/** Any other line: system/permission_denied, hook events, types newer CLIs add. */
export interface OtherMessage {
  type: string;
  subtype?: string;
  [key: string]: unknown;
}

export type ClaudeStreamMessage =
  | SystemInitMessage
  | ApiRetryMessage
  | AssistantMessage
  | UserMessage
  | ResultMessage
  | OtherMessage;

/** A stdout line that was not a JSON object with a string `type`; `raw` is truncated. */
export interface UnparsedRecord {
  type: 'unparsed';
  raw: string;
  bytes: number;
}

/** A line longer than the parser's cap; its content was discarded unread. */
export interface OversizedRecord {
  type: 'oversized';
  bytes: number;
}

export type StreamRecord = ClaudeStreamMessage | UnparsedRecord | OversizedRecord;
/** Alias of StreamRecord: whatever the parser hands on. */
export type StreamMessage = StreamRecord;

// The guards read fields through a loose view: the union's members disagree
// on which fields exist, and a guard must not trust any of them.
type Loose = Record<string, unknown>;

export function isSystemInit(record: StreamRecord): record is SystemInitMessage {
  const r = record as Loose;
  return r.type === 'system' && r.subtype === 'init' && typeof r.session_id === 'string';
}

export function isApiRetry(record: StreamRecord): record is ApiRetryMessage {
  const r = record as Loose;
  return r.type === 'system' && r.subtype === 'api_retry';
}

export function isAssistantMessage(record: StreamRecord): record is AssistantMessage {
  const r = record as Loose;
  return r.type === 'assistant' && isRecord(r.message) && Array.isArray(r.message.content);
}

export function isUserMessage(record: StreamRecord): record is UserMessage {
  const r = record as Loose;
  return r.type === 'user' && isRecord(r.message);
}

export function isResultMessage(record: StreamRecord): record is ResultMessage {
  const r = record as Loose;
  return r.type === 'result' && typeof r.subtype === 'string' && typeof r.is_error === 'boolean';
}

export function isUnparsed(record: StreamRecord): record is UnparsedRecord {
  const r = record as Loose;
  return r.type === 'unparsed' && typeof r.raw === 'string';
}

export function isOversized(record: StreamRecord): record is OversizedRecord {
  const r = record as Loose;
  return r.type === 'oversized' && typeof r.bytes === 'number' && !('raw' in r);
}

/** Tool results of a user message (empty for plain text). */
export function toolResultsOf(message: UserMessage): ToolResultBlock[] {
  const content = message.message.content;
  if (!Array.isArray(content)) return [];
  return content.filter((block): block is ToolResultBlock => block.type === 'tool_result');
}

/** The text of a tool result, whether given as a string or as text blocks. */
export function toolResultText(block: ToolResultBlock): string {
  if (typeof block.content === 'string') return block.content;
  if (!Array.isArray(block.content)) return '';
  return block.content
    .map((part: unknown) => (isRecord(part) && part.type === 'text' && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

/** Text blocks of an assistant message, joined. */
export function assistantText(message: AssistantMessage): string {
  return message.message.content
    .map((block) => (block.type === 'text' && typeof block.text === 'string' ? block.text : ''))
    .join('');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
