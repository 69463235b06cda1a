export interface ApiResponse {
  status: number;
  json: any;
  text: string;
  headers: Headers;
}

/** A response's status, headers and text, and its JSON when the text is JSON (else null). */
export async function readResponse(res: Response): Promise<ApiResponse> {
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** A small JSON client for the API under test. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    public token: string | null = null,
  ) {}

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return readResponse(res);
  }

  /** Creates a workspace and answers its id (an Error with the answer unless 201). */
  async createWorkspace(body: Record<string, unknown>): Promise<string> {
    return this.#created('POST', '/api/v1/workspaces', body, 201);
  }

  /** Submits a task to a workspace and answers its id (an Error with the answer unless 202). */
  async submitTask(workspaceId: string, body: Record<string, unknown>): Promise<string> {
    return this.#created('POST', '/api/v1/tasks', { workspace_id: workspaceId, ...body }, 202);
  }

  async #created(method: string, path: string, body: unknown, status: number): Promise<string> {
    const res = await this.request(method, path, body);
    if (res.status !== status) throw new Error(`${method} ${path} answered ${res.status}, not ${status}: ${res.text}`);
    return res.json.id as string;
  }

  async login(email: string, password: string): Promise<string> {
    const res = await this.request('POST', '/api/v1/auth/login', { email, password });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`);
    this.token = res.json.access_token as string;
    return this.token;
  }
}
