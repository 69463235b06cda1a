import type { ApiClient } from './http.js';
import type { ClientIo } from './io.js';
import { apiClientFor } from './session.js';
import { resolveSettings, type ClientFlags, type ClientSettings } from './settings.js';

/** What every client command gets: where it writes, which server and token, and the API client. */
export interface ClientContext {
  io: ClientIo;
  settings: ClientSettings;
  api: ApiClient;
}

export function clientContext(flags: ClientFlags, io: ClientIo, fetchImpl?: typeof fetch): ClientContext {
  const settings = resolveSettings(flags, io.env);
  return { io, settings, api: apiClientFor(settings, fetchImpl) };
}
