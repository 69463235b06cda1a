import { hash, randomBytes } from 'node:crypto';

/** 32 random bytes as base64url: the body of refresh tokens, API keys, OAuth2 state and PKCE verifiers. */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');

/** Tokens and keys are stored only as this hash (hex); they are long random values, so no salt is needed. */
// crypto.hash is the one-shot form: on the request path (every API key, every access token) it costs a
// fraction of createHash's object, stream and digest calls.
export const sha256Hex = (value: string): string => hash('sha256', value, 'hex');

export const sha256Base64Url = (value: string): string => hash('sha256', value, 'base64url');

/** A compact JWT has three dot-separated base64url parts; an opaque token has none. */
export const looksLikeJwt = (token: string): boolean => /^[\w-]+\.[\w-]*\.[\w-]*$/.test(token);
