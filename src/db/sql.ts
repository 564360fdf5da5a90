/** A parameterized statement: `text` with `$1..$n` placeholders and their values. */
export interface SqlQuery {
  readonly text: string;
  readonly values: readonly unknown[];
  /**
   * Prepare the statement under this name, once per connection, and from then on only bind and
   * run it (PostgreSQL; PGlite ignores it). For hot statements whose text never changes; one
   * name must always carry the same text.
   */
  readonly name?: string;
}

/**
 * Builds a parameterized statement from a template: every `${value}` becomes a placeholder,
 * never spliced text. `sql\`SELECT * FROM sku WHERE id = ${id}\``.
 */
export function sql(strings: TemplateStringsArray, ...values: unknown[]): SqlQuery {
  let text = strings[0]!;
  for (let i = 0; i < values.length; i++) text += `$${i + 1}${strings[i + 1]}`;
  return { text, values };
}

/** `q` prepared under `name` (see SqlQuery.name). */
export function prepared(name: string, q: SqlQuery): SqlQuery {
  return { ...q, name };
}

/** One transaction on one connection: the narrow port the stock ledger writes through. */
export interface SqlTx {
  query<T = Record<string, unknown>>(q: SqlQuery): Promise<T[]>;
  /** Runs a statement and returns the number of rows it changed. */
  execute(q: SqlQuery): Promise<number>;
}
