import { type ZodError, z } from 'zod';
import { ValidationError } from './errors.js';

/** Longest platform id accepted (order, line, item, SKU, refund, promotion ids): 128 characters. */
export const MAX_ID_LENGTH = 128;

/**
 * A platform identifier as text (numeric ids too: Shopify's exceed 2^53 in some APIs).
 * 1..128 characters, no leading/trailing whitespace, no control characters.
 */
export const platformIdSchema = z
  .string({ error: 'id must be a string' })
  .min(1, { error: 'id must not be empty' })
  .max(MAX_ID_LENGTH, { error: `id must be at most ${MAX_ID_LENGTH} characters` })
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  .regex(/^[^\s\u0000-\u001f\u007f](?:[^\u0000-\u001f\u007f]*[^\s\u0000-\u001f\u007f])?$/, {
    error: 'id must not have surrounding whitespace or control characters',
  });

/** A human-readable label (title, promotion name): at most 500 characters. */
export const labelSchema = z
  .string({ error: 'must be a string' })
  .max(500, { error: 'at most 500 characters' });

/** ISO 8601 date-time with `Z` or an explicit offset ("2024-11-11T00:00:05+08:00"). */
export const isoDateTimeSchema = z.iso.datetime({
  offset: true,
  error: 'must be an ISO 8601 date-time with Z or an offset, e.g. 2024-11-11T00:00:05+08:00',
});

/** Zod issues as `path: message` lines, the form {@link ValidationError.issues} carries. */
export function issuesOf(error: ZodError): string[] {
  return error.issues.map(
    (issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`,
  );
}

/** A {@link ValidationError} listing every zod issue, prefixed with what was being parsed. */
export function toValidationError(what: string, error: ZodError): ValidationError {
  const issues = issuesOf(error);
  const shown = issues.slice(0, 5).join('; ') + (issues.length > 5 ? `; and ${issues.length - 5} more` : '');
  return new ValidationError(`invalid ${what}: ${shown}`, issues);
}
