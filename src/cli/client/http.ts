import { ClientError, toError } from './errors.js';

const LOGIN_HINT = 'run aicli-web login (or pass --token / set AICLI_TOKEN)';

/** A non-2xx answer: the server's `{error, message}` as one line, with the status and body kept for callers. */
export class ApiResponseError extends ClientError {
  constructor(
    message: string,
    readonly status: number,
    readonly body: Record<string, unknown> | null,
  ) {
    super(message);
  }
}

/**
 * The server could not be reached or stopped answering. `maybeDelivered` is false only when the request
 * certainly never arrived (refused, unknown host); otherwise repeat it only if it is idempotent.
 */
export class ConnectionError extends ClientError {
  constructor(
    message: string,
    readonly maybeDelivered: boolean,
    options?: ErrorOptions,
  ) {
    super(message, undefined, options);
  }
}

export interface ApiClientOptions {
  server: string;
  token: string | null;
  /** Renews the token after a 401 (saved logins with a refresh token); resolves to the new token or null. */
  refresh?: () => Promise<string | null>;
  fetch?: typeof fetch;
  /** Until the whole answer of a request, or the headers of a stream, has arrived. Default 30 s. */
  timeoutMs?: number;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  /** false for login: no token is sent and a 401 is the server's own message. Default true. */
  auth?: boolean;
  signal?: AbortSignal;
}

/** JSON over HTTP with the API's conventions: bearer token, `{error, message}` errors, one-line messages. */
export class ApiClient {
  readonly server: string;
  #token: string | null;
  readonly #refresh: (() => Promise<string | null>) | undefined;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(opts: ApiClientOptions) {
    this.server = opts.server;
    this.#token = opts.token;
    this.#refresh = opts.refresh;
    this.#fetch = opts.fetch ?? globalThis.fetch;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** Sends a request and parses the JSON answer; any failure is a ClientError. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const deadline = linkedDeadline(opts.signal, this.#timeoutMs);
    try {
      const res = await this.#send(method, path, opts, deadline.signal);
      const text = await res.text();
      if (!text) return null as T;
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new ClientError(`${this.server} answered ${method} ${path} with something that is not JSON`, undefined, { cause: err });
      }
    } catch (err) {
      throw this.#normalise(err, deadline.signal);
    } finally {
      deadline.clear();
    }
  }

  /** Opens a streaming GET (the body is read by the caller); the timeout covers only the headers. */
  async stream(path: string, opts: RequestOptions = {}): Promise<Response> {
    const deadline = linkedDeadline(opts.signal, this.#timeoutMs);
    try {
      const res = await this.#send('GET', path, opts, deadline.signal);
      deadline.disarm();
      return res;
    } catch (err) {
      deadline.clear();
      throw this.#normalise(err, deadline.signal);
    }
  }

  async #send(method: string, path: string, opts: RequestOptions, signal: AbortSignal): Promise<Response> {
    const auth = opts.auth !== false;
    if (auth && !this.#token) throw new ClientError(`not logged in to ${this.server}: ${LOGIN_HINT}`);
    let res = await this.#fetchOnce(method, path, opts, signal, auth);
    if (res.status === 401 && auth && this.#refresh) {
      const renewed = await this.#refresh();
      if (renewed) {
        this.#token = renewed;
        await res.body?.cancel().catch(() => {});
        res = await this.#fetchOnce(method, path, opts, signal, auth);
      }
    }
    if (!res.ok) throw await responseError(res, auth);
    return res;
  }

  #fetchOnce(method: string, path: string, opts: RequestOptions, signal: AbortSignal, auth: boolean): Promise<Response> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (auth && this.#token) headers.authorization = `Bearer ${this.#token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    return this.#fetch(url, { method, headers, body, signal });
  }

  #normalise(err: unknown, signal: AbortSignal): ClientError {
    if (err instanceof ClientError) return err;
    if (signal.aborted && signal.reason instanceof DeadlineError) {
      return new ConnectionError(`${this.server} did not answer within ${Math.round(this.#timeoutMs / 1000)} s`, true, { cause: err });
    }
    // Aborted by the caller (Ctrl-C, or the event stream's idle watchdog): the caller knows why.
    if (signal.aborted) return new ConnectionError('the request was aborted', true, { cause: err });
    return networkError(err, this.server);
  }
}

class DeadlineError extends Error {}

/** A signal that fires on the caller's signal or after `ms`; `disarm` keeps only the caller's. */
function linkedDeadline(outer: AbortSignal | undefined, ms: number) {
  const ac = new AbortController();
  const onOuter = () => ac.abort(outer?.reason);
  if (outer?.aborted) onOuter();
  outer?.addEventListener('abort', onOuter, { once: true });
  const timer = setTimeout(() => ac.abort(new DeadlineError('deadline')), ms);
  timer.unref();
  return {
    signal: ac.signal,
    disarm: () => clearTimeout(timer),
    clear: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}

/** Connection failures named by cause, with the fix. */
export function networkError(err: unknown, server: string): ConnectionError {
  const e = toError(err);
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (e as { code?: string }).code;
  switch (code) {
    case 'ECONNREFUSED':
      return new ConnectionError(
        `cannot connect to ${server}: connection refused: start the server (aicli-web up) or pass --server / set AICLI_SERVER`,
        false,
        { cause: err },
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConnectionError(`cannot resolve the host of ${server}: check --server / AICLI_SERVER`, false, { cause: err });
    default:
      return new ConnectionError(`connection to ${server} failed: ${cause?.message ?? e.message}`, true, { cause: err });
  }
}

async function responseError(res: Response, auth: boolean): Promise<ClientError> {
  const text = await res.text().catch(() => '');
  let body: Record<string, unknown> | null = null;
  try {
    const parsed: unknown = text ? JSON.parse(text) : null;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    body = null;
  }
  const said = typeof body?.message === 'string' ? body.message : typeof body?.error === 'string' ? body.error : null;
  if (res.status === 401 && auth) {
    return new ApiResponseError(`${said ?? 'unauthorised'}: ${LOGIN_HINT}`, res.status, body);
  }
  const message = said ?? `the server answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  return new ApiResponseError(message, res.status, body);
}
