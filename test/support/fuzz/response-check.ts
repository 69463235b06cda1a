import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { Operation } from './operations.js';

// Judges one response against the OpenAPI document: its status must be documented for the operation,
// its content type must be one documented for that status, a JSON body must match the documented schema
// (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses), every 4xx must be {error, message}, and nothing is 5xx.

// ajv-formats is CommonJS: under NodeNext its default import is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => void;

export interface SeenResponse {
  status: number;
  contentType: string;
  text: string;
}

const isJson = (mime: string) => mime === 'application/json' || mime.endsWith('+json');

export class ResponseChecker {
  readonly #ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  readonly #validators = new Map<string, ValidateFunction>();

  constructor() {
    addFormats(this.#ajv);
  }

  /** What is wrong with the response (empty: nothing). */
  problems(op: Operation, res: SeenResponse): string[] {
    const out: string[] = [];
    if (res.status >= 500) out.push(`server error ${res.status}`);
    const key = String(res.status);
    const documented = op.responses[key] ?? op.responses[`${key[0]}XX`] ?? op.responses.default;
    const mime = res.contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    let json: unknown;
    let parsed = false;
    if (isJson(mime) && res.text !== '') {
      try {
        json = JSON.parse(res.text);
        parsed = true;
      } catch {
        out.push(`body is not JSON although the content type is ${mime}`);
      }
    }
    if (res.status >= 400 && res.status < 500) {
      const body = json as { error?: unknown; message?: unknown } | undefined;
      if (!parsed || typeof body !== 'object' || body === null || typeof body.error !== 'string' || typeof body.message !== 'string') {
        out.push('4xx body is not {error: string, message: string}');
      }
    }
    if (!documented) {
      out.push(`status ${res.status} is not documented (documented: ${Object.keys(op.responses).join(', ')})`);
      return out;
    }
    const content = documented.content as Record<string, { schema?: unknown }> | undefined;
    if (!content) {
      if (res.text !== '') out.push(`status ${res.status} is documented without a body, but one came (${mime || 'no content type'})`);
      return out;
    }
    const media = content[mime];
    if (!media) {
      out.push(`content type "${mime}" is not documented for ${res.status} (documented: ${Object.keys(content).join(', ')})`);
      return out;
    }
    if (parsed && media.schema !== undefined) {
      const validate = this.#validator(`${op.id} ${key} ${mime}`, media.schema);
      if (!validate(json)) out.push(`body does not match the documented schema: ${this.#ajv.errorsText(validate.errors, { separator: '; ' }).slice(0, 400)}`);
    }
    return out;
  }

  #validator(key: string, schema: unknown): ValidateFunction {
    let v = this.#validators.get(key);
    if (!v) {
      v = this.#ajv.compile(schema as object);
      this.#validators.set(key, v);
    }
    return v;
  }
}
