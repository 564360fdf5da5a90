/** A parameterized statement: `text` with `$1..$n` placeholders and their values. */
export interface SqlQuery {
  readonly text: string;
  readonly values: readonly unknown[];
  /**
   * Prepare the statement under this name, once per connection, and from then on only bind and
   * run it (PostgreSQL; PGlite ignores it). {@link sql} sets it for every statement it builds;
   * one name must always carry the same text.
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
  return { text, values, name: nameOf(strings) };
}

/**
 * Every statement written with {@link sql} is prepared, once per connection, under a name of its
 * template (the same `strings` object at each call of one call site, so always the same text):
 * PostgreSQL then parses and plans it once per connection, not at every run, and the driver
 * sends only Bind/Execute. At a 双11 peak the database shares the machine's CPU with the daemon;
 * those parses and plans were a share of its time. Bounded by the number of call sites. A few
 * statements on queue tables drop the name again ({@link unprepared}).
 */
const templateNames = new WeakMap<TemplateStringsArray, string>();
let templates = 0;
function nameOf(strings: TemplateStringsArray): string {
  let name = templateNames.get(strings);
  if (name === undefined) {
    name = `stockd_${++templates}`;
    templateNames.set(strings, name);
  }
  return name;
}

/**
 * The statement without its name: parsed and planned at every run, for the current size of the
 * tables it reads. For a statement on a queue table whose size changes by orders of magnitude
 * within a minute: a plan PostgreSQL cached for a prepared statement while the table was small
 * (a sequential scan) stays cached until the table's statistics are next analyzed, and at the
 * start of a burst that is up to a minute of scanning the whole table on each run.
 */
export function unprepared(q: SqlQuery): SqlQuery {
  return { text: q.text, values: q.values };
}

/** One transaction on one connection: the narrow port the stock ledger writes through. */
export interface SqlTx {
  query<T = Record<string, unknown>>(q: SqlQuery): Promise<T[]>;
  /** Runs a statement and returns the number of rows it changed. */
  execute(q: SqlQuery): Promise<number>;
}
