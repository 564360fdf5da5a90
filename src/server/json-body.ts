import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ValidationError } from '../domain/errors.js';
import type { AppEnv } from './app.js';

/**
 * The request body as JSON. `application/json` (or `+json`) only, else 415: a browser page
 * cannot post that cross-site without a preflight. Empty or malformed bodies are a 400
 * naming the problem.
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
  try {
    return JSON.parse(raw);
  } catch (err) {
    const problem = `malformed JSON: ${(err as Error).message}`;
    throw new ValidationError(problem, [`(body): ${problem}`]);
  }
}
