/**
 * A small, comparable model of a PostgreSQL schema, built two ways:
 * - from `schema.prisma`, through Prisma's own parser (`@prisma/get-dmmf`, the WASM build of the
 *   schema parser that the Prisma CLI ships; no schema engine needed), applying Prisma's
 *   PostgreSQL rules for default types, default constraint names and referential actions;
 * - from a live database, through `pg_catalog`.
 *
 * {@link diffSchemaModels} lists every difference as one readable line. It covers what
 * `prisma migrate diff` would see for our schema: tables, columns (type, nullability, default),
 * primary keys, unique and plain indexes (names, columns, order, method), foreign keys (columns,
 * target, ON DELETE / ON UPDATE) and enum types with their values. CHECK constraints, triggers and
 * functions are outside Prisma's model and are ignored here; test them separately.
 *
 * Anything of schema.prisma this model does not understand (a native type it has no mapping for,
 * implicit many-to-many relations, a custom foreign key name...) throws instead of being skipped,
 * so the drift test never passes by not looking.
 */
import { getDMMF } from '@prisma/get-dmmf';
import type { SqlSession } from '../../src/db/client.js';

export interface ColumnModel {
  name: string;
  /** `format_type()` spelling (`timestamp(3) with time zone`), or `enum <type name>`; `[]` for lists. */
  type: string;
  /** `null` = not compared (Prisma does not decide it, e.g. scalar lists). */
  nullable: boolean | null;
  /** Canonical default, see {@link canonicalDefault}; `null` = none; {@link ANY_DEFAULT} = any. */
  default: string | null;
  /** Where it comes from in schema.prisma, for messages (`Sku.barcode`). */
  origin?: string;
}

export interface IndexModel {
  name: string;
  columns: string[];
  unique: boolean;
  /** Access method: btree, hash, gist, gin, spgist, brin. */
  method: string;
  /** One flag per column. */
  descending: boolean[];
  /** The index has a WHERE clause (Prisma cannot express one). */
  partial: boolean;
  /** INCLUDE columns (Prisma cannot express them). */
  include: string[];
  origin?: string;
}

export interface ForeignKeyModel {
  name: string;
  columns: string[];
  referencedTable: string;
  referencedColumns: string[];
  onDelete: ReferentialAction;
  onUpdate: ReferentialAction;
  origin?: string;
}

export type ReferentialAction = 'Cascade' | 'Restrict' | 'NoAction' | 'SetNull' | 'SetDefault';

export interface TableModel {
  name: string;
  columns: ColumnModel[];
  primaryKey: IndexModel | null;
  /** Unique and plain indexes, not the primary key's. */
  indexes: IndexModel[];
  foreignKeys: ForeignKeyModel[];
  origin?: string;
}

export interface EnumModel {
  name: string;
  values: string[];
  origin?: string;
}

export interface SchemaModel {
  tables: TableModel[];
  enums: EnumModel[];
}

/** Expected default when schema.prisma says `@default(dbgenerated())`: any default will do. */
export const ANY_DEFAULT = '<any database default>';

/** PostgreSQL's NAMEDATALEN - 1; Prisma truncates default constraint names to it. */
const MAX_IDENTIFIER_BYTES = 63;

/** Tables that belong to the migration machinery, not to the schema. */
const IGNORED_TABLES = new Set(['_prisma_migrations']);

// ---------------------------------------------------------------------------------------------
// schema.prisma -> model

type DmmfResult = ReturnType<typeof getDMMF>;
type Datamodel = Extract<DmmfResult, { datamodel: unknown }>['datamodel'];
type DmmfModel = Datamodel['models'][number];
type DmmfField = DmmfModel['fields'][number];

/** Prisma's column type on PostgreSQL when a field has no `@db.*` attribute. */
const DEFAULT_SCALAR_TYPES: Record<string, string> = {
  String: 'text',
  Boolean: 'boolean',
  Int: 'integer',
  BigInt: 'bigint',
  Float: 'double precision',
  Decimal: 'numeric(65,30)',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Bytes: 'bytea',
};

const precision = (args: readonly string[]) => (args.length > 0 ? `(${args.join(',')})` : '');

/** `@db.<Name>(args)` -> the `format_type()` spelling of the PostgreSQL type it creates. */
const NATIVE_TYPES: Record<string, (args: readonly string[]) => string> = {
  Text: () => 'text',
  Char: (a) => `character(${a[0] ?? 1})`,
  VarChar: (a) => `character varying${precision(a)}`,
  Bit: (a) => `bit(${a[0] ?? 1})`,
  VarBit: (a) => `bit varying${precision(a)}`,
  Uuid: () => 'uuid',
  Xml: () => 'xml',
  Inet: () => 'inet',
  Citext: () => 'citext',
  Boolean: () => 'boolean',
  SmallInt: () => 'smallint',
  Integer: () => 'integer',
  BigInt: () => 'bigint',
  Oid: () => 'oid',
  Decimal: (a) => `numeric${precision(a)}`,
  Money: () => 'money',
  Real: () => 'real',
  DoublePrecision: () => 'double precision',
  Date: () => 'date',
  Timestamp: (a) => `timestamp${precision(a)} without time zone`,
  Timestamptz: (a) => `timestamp${precision(a)} with time zone`,
  Time: (a) => `time${precision(a)} without time zone`,
  Timetz: (a) => `time${precision(a)} with time zone`,
  Json: () => 'json',
  JsonB: () => 'jsonb',
  ByteA: () => 'bytea',
};

const CLIENT_SIDE_DEFAULTS = new Set(['uuid', 'cuid', 'nanoid', 'ulid']);

class UnsupportedSchemaError extends Error {
  constructor(what: string) {
    super(`schema-model: ${what} is not supported yet; extend test/support/schema-model.ts`);
  }
}

/**
 * The model schema.prisma describes, as PostgreSQL would hold it after Prisma migrated it.
 * Throws when the schema does not parse or uses a feature this module does not model.
 */
export function schemaModelFromPrisma(schemaText: string): SchemaModel {
  const dmmf = getDMMF({ datamodel: schemaText });
  if (!('datamodel' in dmmf)) {
    throw new Error(`schema.prisma does not parse (${dmmf.type}): ${dmmf.reason}`, { cause: dmmf.error });
  }
  // The DMMF does not carry `@relation(map: ...)`; rather than guess, refuse.
  if (/@relation\([^)]*\bmap\s*:/.test(schemaText)) {
    throw new UnsupportedSchemaError('a custom foreign key name (@relation(map: ...))');
  }
  const { models, enums: dmmfEnums, indexes } = dmmf.datamodel;

  const enums = new Map(
    dmmfEnums.map((e) => [
      e.name,
      {
        dbName: e.dbName ?? e.name,
        values: new Map(e.values.map((v) => [v.name, v.dbName ?? v.name])),
      },
    ]),
  );
  const tableOf = new Map(models.map((m) => [m.name, m.dbName ?? m.name]));
  const columnOf = (model: DmmfModel, field: string): string => {
    const f = model.fields.find((x) => x.name === field);
    if (!f) throw new Error(`DMMF: ${model.name} has no field ${field}`);
    return f.dbName ?? f.name;
  };

  const tables: TableModel[] = models.map((model) => {
    const table = model.dbName ?? model.name;
    const columns: ColumnModel[] = [];
    const foreignKeys: ForeignKeyModel[] = [];
    for (const field of model.fields) {
      const origin = `${model.name}.${field.name}`;
      if (field.kind === 'scalar' || field.kind === 'enum') {
        columns.push({
          name: field.dbName ?? field.name,
          type: expectedType(field, enums),
          nullable: field.isList ? null : !field.isRequired,
          default: expectedDefault(field, enums),
          origin,
        });
      } else if (field.kind === 'object') {
        const from = field.relationFromFields ?? [];
        if (from.length === 0) {
          const target = models.find((m) => m.name === field.type);
          const back = target?.fields.find(
            (f) => f.relationName === field.relationName && f !== field && f.kind === 'object',
          );
          if (field.isList && back?.isList) {
            throw new UnsupportedSchemaError(`the implicit many-to-many relation ${origin}`);
          }
          continue;
        }
        const target = models.find((m) => m.name === field.type);
        if (!target) throw new Error(`DMMF: ${origin} points to unknown model ${field.type}`);
        const fkColumns = from.map((f) => columnOf(model, f));
        foreignKeys.push({
          name: defaultName(table, fkColumns, '_fkey'),
          columns: fkColumns,
          referencedTable: tableOf.get(target.name)!,
          referencedColumns: (field.relationToFields ?? []).map((f) => columnOf(target, f)),
          onDelete: asAction(field.relationOnDelete ?? (field.isRequired ? 'Restrict' : 'SetNull'), origin),
          onUpdate: asAction(field.relationOnUpdate ?? 'Cascade', origin),
          origin: `${origin} @relation`,
        });
      } else {
        throw new UnsupportedSchemaError(`the ${field.kind} field ${origin}`);
      }
    }

    let primaryKey: IndexModel | null = null;
    const tableIndexes: IndexModel[] = [];
    for (const index of indexes.filter((i) => i.model === model.name)) {
      const cols = index.fields.map((f) => columnOf(model, f.name));
      const fieldList = index.fields.map((f) => f.name).join(', ');
      for (const f of index.fields) {
        if (f.operatorClass !== undefined || f.length !== undefined) {
          throw new UnsupportedSchemaError(`an index field option on ${model.name}(${fieldList})`);
        }
      }
      const base = {
        columns: cols,
        method: (index.algorithm ?? 'BTree').toLowerCase(),
        descending: index.fields.map((f) => f.sortOrder === 'desc'),
        partial: false,
        include: [],
      };
      switch (index.type) {
        case 'id':
          primaryKey = {
            ...base,
            name: index.dbName ?? primaryKeyName(table),
            unique: true,
            origin: index.isDefinedOnField
              ? `${model.name}.${fieldList} @id`
              : `${model.name} @@id([${fieldList}])`,
          };
          break;
        case 'unique':
          tableIndexes.push({
            ...base,
            name: index.dbName ?? defaultName(table, cols, '_key'),
            unique: true,
            origin: index.isDefinedOnField
              ? `${model.name}.${fieldList} @unique`
              : `${model.name} @@unique([${fieldList}])`,
          });
          break;
        case 'normal':
          tableIndexes.push({
            ...base,
            name: index.dbName ?? defaultName(table, cols, '_idx'),
            unique: false,
            origin: `${model.name} @@index([${fieldList}])`,
          });
          break;
        default:
          throw new UnsupportedSchemaError(`the ${index.type} index on ${model.name}(${fieldList})`);
      }
    }
    return {
      name: table,
      columns,
      primaryKey,
      indexes: tableIndexes,
      foreignKeys,
      origin: `model ${model.name}`,
    };
  });

  return {
    tables,
    enums: [...enums.entries()].map(([name, e]) => ({
      name: e.dbName,
      values: [...e.values.values()],
      origin: `enum ${name}`,
    })),
  };
}

type EnumInfo = Map<string, { dbName: string; values: Map<string, string> }>;

function expectedType(field: DmmfField, enums: EnumInfo): string {
  let base: string;
  if (field.kind === 'enum') {
    const e = enums.get(field.type);
    if (!e) throw new Error(`DMMF: unknown enum ${field.type}`);
    base = `enum ${e.dbName}`;
  } else if (field.nativeType) {
    const [name, args] = field.nativeType as readonly [string, readonly string[]];
    const render = NATIVE_TYPES[name];
    if (!render) throw new UnsupportedSchemaError(`the native type @db.${name}`);
    base = render(args);
  } else {
    const t = DEFAULT_SCALAR_TYPES[field.type];
    if (!t) throw new UnsupportedSchemaError(`the scalar type ${field.type}`);
    base = t;
  }
  return normalizeType(base) + (field.isList ? '[]' : '');
}

function expectedDefault(field: DmmfField, enums: EnumInfo): string | null {
  const d: unknown = field.default;
  if (d === undefined || d === null) return null;
  const literal = (v: unknown): string => {
    if (field.kind === 'enum' && typeof v === 'string') {
      return canonicalLiteral(enums.get(field.type)?.values.get(v) ?? v);
    }
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return canonicalLiteral(v);
    throw new UnsupportedSchemaError(`the default ${JSON.stringify(v)} of ${field.name}`);
  };
  if (Array.isArray(d)) return `[${d.map(literal).join(', ')}]`;
  if (typeof d === 'object') {
    const fn = d as { name: string; args: readonly (string | number)[] };
    if (fn.name === 'autoincrement') return 'autoincrement()';
    if (fn.name === 'now') return 'now()';
    if (fn.name === 'dbgenerated') {
      return fn.args.length === 0 ? ANY_DEFAULT : canonicalDbDefault(String(fn.args[0]), '');
    }
    if (CLIENT_SIDE_DEFAULTS.has(fn.name)) return null;
    throw new UnsupportedSchemaError(`@default(${fn.name}(...)) on ${field.name}`);
  }
  return literal(d);
}

function asAction(action: string, origin: string): ReferentialAction {
  if (['Cascade', 'Restrict', 'NoAction', 'SetNull', 'SetDefault'].includes(action)) {
    return action as ReferentialAction;
  }
  throw new UnsupportedSchemaError(`the referential action ${action} on ${origin}`);
}

/** Truncates to at most `bytes` UTF-8 bytes without splitting a character. */
function truncateBytes(s: string, bytes: number): string {
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= bytes) return s;
  let end = bytes;
  // Step back over UTF-8 continuation bytes (10xxxxxx).
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

/** Prisma's `{table}_pkey` (psl ConstraintNames::primary_key_name). */
export function primaryKeyName(table: string): string {
  return `${truncateBytes(table, MAX_IDENTIFIER_BYTES - 5)}_pkey`;
}

/**
 * Prisma's default `{table}_{columns}{suffix}` for unique keys (`_key`), indexes (`_idx`) and
 * foreign keys (`_fkey`), cut so the whole name fits PostgreSQL's 63 bytes
 * (psl ConstraintNames::index_name_impl / foreign_key_constraint_name).
 */
export function defaultName(table: string, columns: readonly string[], suffix: string): string {
  return truncateBytes(`${table}_${columns.join('_')}`, MAX_IDENTIFIER_BYTES - suffix.length) + suffix;
}

// ---------------------------------------------------------------------------------------------
// canonical spellings shared by both sides

/** `timestamp(6)` is PostgreSQL's default precision and prints as plain `timestamp`. */
function normalizeType(t: string): string {
  return t.replace(/\b(timestamp|time)\(6\)/g, '$1');
}

const NUMBER = /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i;

/** A literal default as both sides spell it: numbers and booleans bare, text in single quotes. */
function canonicalLiteral(v: string | number | boolean): string {
  if (typeof v === 'boolean') return String(v);
  const s = String(v);
  if (NUMBER.test(s)) {
    const n = Number(s);
    return Number.isSafeInteger(n) || !Number.isInteger(n) ? String(n) : s;
  }
  if (s === 'true' || s === 'false') return s;
  return `'${s}'`;
}

/** `::text`, `::"SkuKind"`, `::character varying(20)`, `::timestamp(3) with time zone`, `::text[]`. */
const CASTS = String.raw`(?:::(?:"[^"]+"|[a-z_][a-z0-9_ ]*(?:\(\d+(?:,\s*\d+)?\))?[a-z ]*)(?:\[\])?)*`;
const QUOTED_LITERAL = new RegExp(`^'((?:[^']|'')*)'${CASTS}$`, 's');
const BARE_LITERAL = new RegExp(String.raw`^\(?(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|true|false)\)?${CASTS}$`, 'i');
const ARRAY_LITERAL = new RegExp(String.raw`^ARRAY\[(.*?)\]${CASTS}$`, 's');

/**
 * A column default as `pg_get_expr` prints it, in the canonical form `expectedDefault` produces:
 * `autoincrement()` (a `nextval` of a sequence, i.e. SERIAL/BIGSERIAL), `now()`
 * (`CURRENT_TIMESTAMP` or `now()`), a literal without its casts, `[...]` for arrays, or
 * `sql:<expression>` for anything else.
 */
export function canonicalDbDefault(expr: string | null, identity: string): string | null {
  if (identity === 'a') return 'GENERATED ALWAYS AS IDENTITY';
  if (identity === 'd') return 'GENERATED BY DEFAULT AS IDENTITY';
  if (expr === null) return null;
  const e = expr.trim();
  if (/^nextval\('[^']+'::regclass\)$/.test(e)) return 'autoincrement()';
  if (/^(current_timestamp|now\(\))$/i.test(e)) return 'now()';
  const quoted = QUOTED_LITERAL.exec(e);
  if (quoted) return canonicalLiteral(quoted[1]!.replaceAll("''", "'"));
  const bare = BARE_LITERAL.exec(e);
  if (bare) return canonicalLiteral(bare[1]!.toLowerCase());
  const array = ARRAY_LITERAL.exec(e);
  if (array) {
    const items = array[1]!.trim() === '' ? [] : array[1]!.split(',');
    return `[${items.map((i) => canonicalDbDefault(i, '')).join(', ')}]`;
  }
  return `sql:${e.replace(/\s+/g, ' ')}`;
}

// ---------------------------------------------------------------------------------------------
// database -> model

const ACTION_CODES: Record<string, ReferentialAction> = {
  a: 'NoAction',
  r: 'Restrict',
  c: 'Cascade',
  n: 'SetNull',
  d: 'SetDefault',
};

/** Reads the current schema (`current_schema()`) of the database behind `s` from pg_catalog. */
export async function introspectDatabase(s: SqlSession): Promise<SchemaModel> {
  const tableRows = await s.query<{ table: string }>(
    `SELECT c.relname AS "table"
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
      ORDER BY c.relname`,
  );
  const tables = new Map<string, TableModel>();
  for (const { table } of tableRows) {
    if (IGNORED_TABLES.has(table)) continue;
    tables.set(table, { name: table, columns: [], primaryKey: null, indexes: [], foreignKeys: [] });
  }

  const columnRows = await s.query<{
    table: string;
    column: string;
    type: string;
    typtype: string;
    typname: string;
    elemtyptype: string | null;
    elemtypname: string | null;
    notnull: boolean;
    default: string | null;
    identity: string;
    generated: string;
  }>(
    `SELECT c.relname AS "table", a.attname AS "column", format_type(a.atttypid, a.atttypmod) AS "type",
            t.typtype::text AS typtype, t.typname AS typname,
            et.typtype::text AS elemtyptype, et.typname AS elemtypname,
            a.attnotnull AS notnull, pg_get_expr(d.adbin, d.adrelid) AS "default",
            a.attidentity::text AS "identity", a.attgenerated::text AS "generated"
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY c.relname, a.attnum`,
  );
  for (const r of columnRows) {
    const table = tables.get(r.table);
    if (!table) continue;
    let type = normalizeType(r.type);
    if (r.typtype === 'e') type = `enum ${r.typname}`;
    else if (r.elemtyptype === 'e') type = `enum ${r.elemtypname}[]`;
    table.columns.push({
      name: r.column,
      type,
      nullable: !r.notnull,
      default:
        r.generated === 's'
          ? `GENERATED ALWAYS AS (${r.default})`
          : canonicalDbDefault(r.default, r.identity),
    });
  }

  const indexRows = await s.query<{
    table: string;
    name: string;
    is_unique: boolean;
    is_primary: boolean;
    method: string;
    is_partial: boolean;
    nkey: number;
    ord: number | string;
    column: string | null;
    opt: number;
  }>(
    `SELECT t.relname AS "table", i.relname AS name, ix.indisunique AS is_unique, ix.indisprimary AS is_primary,
            am.amname AS method, ix.indpred IS NOT NULL AS is_partial, ix.indnkeyatts AS nkey,
            k.ord, a.attname AS "column", coalesce(o.opt, 0)::int AS opt
       FROM pg_index ix
       JOIN pg_class i ON i.oid = ix.indexrelid
       JOIN pg_class t ON t.oid = ix.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       JOIN pg_am am ON am.oid = i.relam
       CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
       LEFT JOIN LATERAL unnest(ix.indoption::int2[]) WITH ORDINALITY AS o(opt, ord) ON o.ord = k.ord
       LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum AND k.attnum <> 0
      WHERE n.nspname = current_schema()
      ORDER BY t.relname, i.relname, k.ord`,
  );
  const indexByKey = new Map<string, IndexModel>();
  for (const r of indexRows) {
    const table = tables.get(r.table);
    if (!table) continue;
    const key = `${r.table}\0${r.name}`;
    let index = indexByKey.get(key);
    if (!index) {
      index = {
        name: r.name,
        columns: [],
        unique: r.is_unique,
        method: r.method,
        descending: [],
        partial: r.is_partial,
        include: [],
      };
      indexByKey.set(key, index);
      if (r.is_primary) table.primaryKey = index;
      else table.indexes.push(index);
    }
    const column = r.column ?? '(expression)';
    if (Number(r.ord) > r.nkey) {
      index.include.push(column);
    } else {
      index.columns.push(column);
      // indoption bit 0 = DESC.
      index.descending.push((r.opt & 1) === 1);
    }
  }

  const fkRows = await s.query<{
    table: string;
    name: string;
    ref_table: string;
    on_update: string;
    on_delete: string;
    column: string;
    ref_column: string;
  }>(
    `SELECT t.relname AS "table", c.conname AS name, rt.relname AS ref_table,
            c.confupdtype::text AS on_update, c.confdeltype::text AS on_delete,
            a.attname AS "column", ra.attname AS ref_column
       FROM pg_constraint c
       JOIN pg_class t ON t.oid = c.conrelid
       JOIN pg_class rt ON rt.oid = c.confrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(attnum, refattnum, ord)
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
       JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = k.refattnum
      WHERE c.contype = 'f' AND n.nspname = current_schema()
      ORDER BY t.relname, c.conname, k.ord`,
  );
  const fkByKey = new Map<string, ForeignKeyModel>();
  for (const r of fkRows) {
    const table = tables.get(r.table);
    if (!table) continue;
    const key = `${r.table}\0${r.name}`;
    let fk = fkByKey.get(key);
    if (!fk) {
      fk = {
        name: r.name,
        columns: [],
        referencedTable: r.ref_table,
        referencedColumns: [],
        onDelete: ACTION_CODES[r.on_delete] ?? 'NoAction',
        onUpdate: ACTION_CODES[r.on_update] ?? 'NoAction',
      };
      fkByKey.set(key, fk);
      table.foreignKeys.push(fk);
    }
    fk.columns.push(r.column);
    fk.referencedColumns.push(r.ref_column);
  }

  const enumRows = await s.query<{ name: string; value: string }>(
    `SELECT t.typname AS name, e.enumlabel AS value
       FROM pg_type t
       JOIN pg_enum e ON e.enumtypid = t.oid
       JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = current_schema()
      ORDER BY t.typname, e.enumsortorder`,
  );
  const enums = new Map<string, EnumModel>();
  for (const r of enumRows) {
    let e = enums.get(r.name);
    if (!e) {
      e = { name: r.name, values: [] };
      enums.set(r.name, e);
    }
    e.values.push(r.value);
  }

  return { tables: [...tables.values()], enums: [...enums.values()] };
}

/** CHECK constraints of the current schema, as `table.constraint`. */
export async function checkConstraintNames(s: SqlSession): Promise<string[]> {
  const rows = await s.query<{ name: string }>(
    `SELECT t.relname || '.' || c.conname AS name
       FROM pg_constraint c
       JOIN pg_class t ON t.oid = c.conrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE c.contype = 'c' AND n.nspname = current_schema()
      ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

// ---------------------------------------------------------------------------------------------
// diff

const show = (v: unknown): string => {
  if (v === null) return 'none';
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `(${v.join(', ')})`;
  return String(v);
};

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Every difference between what schema.prisma expects and what the database holds, one line
 * each, e.g. `sku.barcode (Sku.barcode): nullable: schema.prisma true, database false`.
 * Empty when they agree.
 */
export function diffSchemaModels(expected: SchemaModel, actual: SchemaModel): string[] {
  const out: string[] = [];
  const actualTables = new Map(actual.tables.map((t) => [t.name, t]));
  for (const exp of expected.tables) {
    const act = actualTables.get(exp.name);
    const where = `table ${exp.name} (${exp.origin})`;
    if (!act) {
      out.push(`${where}: missing in the database`);
      continue;
    }
    actualTables.delete(exp.name);
    diffColumns(exp, act, out);
    diffPrimaryKey(exp, act, out);
    diffIndexes(exp, act, out);
    diffForeignKeys(exp, act, out);
  }
  for (const extra of actualTables.values()) {
    out.push(`table ${extra.name}: in the database, not in schema.prisma`);
  }

  const actualEnums = new Map(actual.enums.map((e) => [e.name, e]));
  for (const exp of expected.enums) {
    const act = actualEnums.get(exp.name);
    const where = `enum type ${exp.name} (${exp.origin})`;
    if (!act) {
      out.push(`${where}: missing in the database`);
      continue;
    }
    actualEnums.delete(exp.name);
    if (!same(exp.values, act.values)) {
      out.push(`${where}: values: schema.prisma ${show(exp.values)}, database ${show(act.values)}`);
    }
  }
  for (const extra of actualEnums.values()) {
    out.push(`enum type ${extra.name}: in the database, not in schema.prisma`);
  }
  return out;
}

function diffColumns(exp: TableModel, act: TableModel, out: string[]): void {
  const actualColumns = new Map(act.columns.map((c) => [c.name, c]));
  for (const col of exp.columns) {
    const where = `${exp.name}.${col.name} (${col.origin})`;
    const a = actualColumns.get(col.name);
    if (!a) {
      out.push(`${where}: column missing in the database`);
      continue;
    }
    actualColumns.delete(col.name);
    if (col.type !== a.type) out.push(`${where}: type: schema.prisma ${col.type}, database ${a.type}`);
    if (col.nullable !== null && col.nullable !== a.nullable) {
      const n = (v: boolean | null) => (v ? 'NULL' : 'NOT NULL');
      out.push(`${where}: nullability: schema.prisma ${n(col.nullable)}, database ${n(a.nullable)}`);
    }
    const defaultMatches = col.default === ANY_DEFAULT ? a.default !== null : col.default === a.default;
    if (!defaultMatches) {
      out.push(`${where}: default: schema.prisma ${show(col.default)}, database ${show(a.default)}`);
    }
  }
  for (const extra of actualColumns.values()) {
    out.push(`${exp.name}.${extra.name}: column in the database, not in schema.prisma (${exp.origin})`);
  }
}

function indexProps(i: IndexModel): Record<string, unknown> {
  return {
    columns: i.columns,
    unique: i.unique,
    method: i.method,
    descending: i.descending,
    partial: i.partial,
    include: i.include,
  };
}

function diffProps(where: string, exp: Record<string, unknown>, act: Record<string, unknown>, out: string[]) {
  for (const [key, value] of Object.entries(exp)) {
    if (!same(value, act[key])) {
      out.push(`${where}: ${key}: schema.prisma ${show(value)}, database ${show(act[key])}`);
    }
  }
}

function diffPrimaryKey(exp: TableModel, act: TableModel, out: string[]): void {
  const e = exp.primaryKey;
  const a = act.primaryKey;
  if (!e && !a) return;
  if (!e) {
    out.push(`${exp.name}: primary key ${a!.name} ${show(a!.columns)} in the database, not in schema.prisma`);
    return;
  }
  const where = `${exp.name} primary key ${e.name} (${e.origin})`;
  if (!a) {
    out.push(`${where}: missing in the database`);
    return;
  }
  if (e.name !== a.name) out.push(`${where}: name: schema.prisma ${e.name}, database ${a.name}`);
  diffProps(where, indexProps(e), indexProps(a), out);
}

function diffIndexes(exp: TableModel, act: TableModel, out: string[]): void {
  const actual = new Map(act.indexes.map((i) => [i.name, i]));
  const missing: IndexModel[] = [];
  for (const e of exp.indexes) {
    const a = actual.get(e.name);
    if (!a) {
      missing.push(e);
      continue;
    }
    actual.delete(e.name);
    diffProps(`${exp.name} index ${e.name} (${e.origin})`, indexProps(e), indexProps(a), out);
  }
  for (const e of missing) {
    const twin = [...actual.values()].find((a) => same(indexProps(a), indexProps(e)));
    const hint = twin ? `; the database has the same index named ${twin.name}` : '';
    out.push(`${exp.name} index ${e.name} (${e.origin}): missing in the database${hint}`);
  }
  for (const a of actual.values()) {
    const kind = a.unique ? 'unique index' : 'index';
    out.push(`${exp.name} ${kind} ${a.name} ${show(a.columns)}: in the database, not in schema.prisma`);
  }
}

function fkProps(fk: ForeignKeyModel): Record<string, unknown> {
  return {
    columns: fk.columns,
    references: `${fk.referencedTable}${show(fk.referencedColumns)}`,
    'ON DELETE': fk.onDelete,
    'ON UPDATE': fk.onUpdate,
  };
}

function diffForeignKeys(exp: TableModel, act: TableModel, out: string[]): void {
  const actual = new Map(act.foreignKeys.map((f) => [f.name, f]));
  const missing: ForeignKeyModel[] = [];
  for (const e of exp.foreignKeys) {
    const a = actual.get(e.name);
    if (!a) {
      missing.push(e);
      continue;
    }
    actual.delete(e.name);
    diffProps(`${exp.name} foreign key ${e.name} (${e.origin})`, fkProps(e), fkProps(a), out);
  }
  for (const e of missing) {
    const twin = [...actual.values()].find((a) => same(a.columns, e.columns));
    const hint = twin ? `; the database has a foreign key on the same columns named ${twin.name}` : '';
    out.push(`${exp.name} foreign key ${e.name} (${e.origin}): missing in the database${hint}`);
  }
  for (const a of actual.values()) {
    out.push(
      `${exp.name} foreign key ${a.name} ${show(a.columns)} -> ${a.referencedTable}: in the database, not in schema.prisma`,
    );
  }
}
