import { createHash, randomBytes } from 'node:crypto';

/** 32 random bytes as base64url: the body of refresh tokens, API keys, OAuth2 state and PKCE verifiers. */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');

/** Tokens and keys are stored only as this hash (hex); they are long random values, so no salt is needed. */
export const sha256Hex = (value: string): string => createHash('sha256').update(value).digest('hex');

export const sha256Base64Url = (value: string): string => createHash('sha256').update(value).digest('base64url');

/** A compact JWT has three dot-separated base64url parts; an opaque token has none. */
export const looksLikeJwt = (token: string): boolean => /^[\w-]+\.[\w-]*\.[\w-]*$/.test(token);
