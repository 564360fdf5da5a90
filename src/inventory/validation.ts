import { z } from 'zod';
import { toValidationError } from '../domain/schema-fields.js';

/** Largest quantity accepted in one request; far above any real order, well inside int4. */
export const MAX_QUANTITY = 1_000_000_000;

export const idempotencyKey = z.string().trim().min(1).max(200);
export const positiveQty = z.number().int().positive().max(MAX_QUANTITY);
export const nonNegativeQty = z.number().int().nonnegative().max(MAX_QUANTITY);
export const entityId = z.number().int().positive();
export const code = z.string().trim().min(1).max(100);

/** Parses `input` or throws a ValidationError listing every problem as `path: message`. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw toValidationError(what, r.error);
}
