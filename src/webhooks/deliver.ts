import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { signBody, SIGNATURE_HEADER } from './sign.js';

/** Decides where a host may be reached: the address to connect to, or why not. */
export type AddressGuard = (host: string) => Promise<{ ok: true; address: string; family: 4 | 6 } | { ok: false; reason: string }>;

export class WebhookRefused extends Error {
  override readonly name = 'WebhookRefused';
}

export interface DeliveryResult {
  status: number;
}

/**
 * POSTs a signed body. The host is resolved and checked by the guard BEFORE any connection, and the
 * connection goes to exactly the checked address (a `lookup` that returns it), so DNS cannot swap in
 * another address between check and connect.
 */
export async function deliverWebhook(o: {
  url: string;
  body: string;
  secret: string;
  guard: AddressGuard;
  timeoutMs: number;
  headers?: Record<string, string>;
  /** Aborting it destroys the request (the job ran past its timeout). */
  signal?: AbortSignal;
}): Promise<DeliveryResult> {
  const url = new URL(o.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const verdict = await o.guard(host);
  if (!verdict.ok) throw new WebhookRefused(`webhook to ${host} refused: ${verdict.reason}`);
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) callback(null, [{ address: verdict.address, family: verdict.family }]);
    else callback(null, verdict.address, verdict.family);
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<DeliveryResult>((resolve, reject) => {
    const req = client.request(
      url,
      {
        method: 'POST',
        lookup,
        timeout: o.timeoutMs,
        signal: o.signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'aicli-web-webhooks/1',
          [SIGNATURE_HEADER]: signBody(o.secret, o.body),
          'content-length': String(Buffer.byteLength(o.body)),
          ...o.headers,
        },
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve({ status: res.statusCode ?? 0 }));
        res.once('error', reject);
      },
    );
    req.once('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.once('error', reject);
    req.end(o.body);
  });
}
