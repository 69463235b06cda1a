import { z } from 'zod';
import type { ResponseDoc } from '../route.js';
import { errorSchema } from './schemas.js';

// Short spellings for the responses a route declares.

export const ok = (schema: z.ZodTypeAny, description = 'OK', status = 200): ResponseDoc => ({ status, description, schema });
export const noContent = (description: string): ResponseDoc => ({ status: 204, description });
export const redirect = (description: string): ResponseDoc => ({ status: 302, description });
export const err = (status: number, description: string): ResponseDoc => ({ status, description, schema: errorSchema });
export const text = (contentType: string, description: string): ResponseDoc => ({ status: 200, description, contentType, schema: z.string() });
