import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ValidationError } from '../domain/errors.js';
import type { AppEnv } from './app.js';

/**
 * The request body as JSON. `application/json` (or `+json`) only, else 415: a browser page
 * cannot post that cross-site without a preflight. Empty or malformed bodies are a 400
 * naming the problem, and so is a string PostgreSQL cannot store (see {@link unstorablePath}).
 */
export async function readJson(c: Context<AppEnv>): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw new HTTPException(415, {
      message: `expected content-type: application/json, got ${type === '' ? 'none' : JSON.stringify(type)}`,
    });
  }
  const raw = await c.req.text();
  if (raw.trim() === '') {
    throw new ValidationError('request body is empty; expected a JSON object', [
      '(body): expected a JSON object',
    ]);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    const problem = `malformed JSON: ${(err as Error).message}`;
    throw new ValidationError(problem, [`(body): ${problem}`]);
  }
  // JSON.parse only yields such strings from `\u` escapes, so most bodies skip the walk.
  const bad = SUSPECT_ESCAPE_RE.test(raw) ? unstorablePath(value) : undefined;
  if (bad !== undefined) {
    throw new ValidationError(`${bad}: text must not contain NUL (\\u0000) or an unpaired surrogate`, [
      `${bad}: must not contain NUL (\\u0000) or an unpaired surrogate (\\ud800-\\udfff)`,
    ]);
  }
  return value;
}

const SUSPECT_ESCAPE_RE = /\\u(?:0000|d[89a-f])/i;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point
const UNSTORABLE_RE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

interface Node {
  value: unknown;
  key: string | undefined;
  parent: Node | undefined;
}

/**
 * The path (`lines.0.title`) of the first key or string holding what PostgreSQL text and jsonb
 * cannot store: a NUL, or half of a surrogate pair (which jsonb refuses as an escape); undefined
 * when there is none. Iterative, with the path built only for the hit: a 1 MiB body may nest
 * hundreds of thousands of levels deep.
 */
function unstorablePath(root: unknown): string | undefined {
  const stack: Node[] = [{ value: root, key: undefined, parent: undefined }];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const v = node.value;
    if (typeof v === 'string') {
      if (UNSTORABLE_RE.test(v)) return pathOf(node);
    } else if (typeof v === 'object' && v !== null) {
      for (const [key, value] of Object.entries(v)) {
        const child = { value, key, parent: node };
        if (UNSTORABLE_RE.test(key)) return pathOf(child);
        stack.push(child);
      }
    }
  }
  return undefined;
}

function pathOf(node: Node): string {
  const keys: string[] = [];
  for (let n: Node | undefined = node; n?.key !== undefined; n = n.parent) keys.push(n.key);
  return keys.length === 0 ? '(body)' : keys.reverse().join('.');
}
