/**
 * The daemon's configuration: one zod schema, parsed once at boot.
 *
 * Sources, later ones win:
 * 1. the schema's defaults (documented on each option below);
 * 2. the JSON file named by env `CONFIG` (default `config/default.json`, relative to the
 *    working directory);
 * 3. a few environment overrides: `DATABASE_URL` (database.url), `PORT` (server.port),
 *    `HOST` (server.host), `LOG_LEVEL` (log.level), `LOG_PRETTY` (log.pretty),
 *    `ADMIN_TOKEN` (admin.token).
 *
 * This is the only module that reads `process.env`. Every object is strict, so a misspelt key
 * fails the boot instead of being ignored. A bad value throws {@link ConfigError}, whose message
 * names the key path, where the value came from (the file or the env var) and what was expected.
 *
 * Env strings are parsed by explicit helpers, never `z.coerce`: coercion turns "false" into
 * `true` and "" into 0 (port 0 = a random port). A blank env var is an error, not "unset".
 */
import { readFileSync } from 'node:fs';
import cron from 'node-cron';
import { z } from 'zod';
import { platformSchema } from './domain/order.js';
import { pushRulesSchema } from './sync/channel-rules.js';

const intIn = (min: number, max: number) => {
  const error = `expected an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
};

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Same rule as `parseDatabaseUrl` in src/db/client.ts, checked here so a typo fails at boot. */
const DATABASE_URL_RE = /^(pglite:.+|postgres(ql)?:\/\/.+)$/;

const serverSchema = z.strictObject({
  /** Interface to listen on. Default `127.0.0.1`; use `0.0.0.0` in a container. Env `HOST`. */
  host: z
    .string({ error: 'expected a host name or IP address' })
    .min(1, { error: 'expected a host name or IP address' })
    .default('127.0.0.1'),
  /** TCP port; 0 picks a free one (the start log line tells which). Default 3000. Env `PORT`. */
  port: intIn(0, 65535).default(3000),
  /** Largest accepted request body in bytes; larger ones get 413. Default 1 MiB (1048576). */
  bodyLimitBytes: intIn(1, 1024 ** 3).default(1024 * 1024),
});

const DATABASE_URL_EXPECTED = 'expected pglite:<dir>, pglite:memory or postgres://...';

const databaseSchema = z.strictObject({
  /**
   * `pglite:<dir>`, `pglite:memory` or `postgres://user:pass@host:5432/db`. Unset (the default)
   * = embedded PGlite in `./data/pglite`. Env `DATABASE_URL`.
   */
  url: z
    .string({ error: DATABASE_URL_EXPECTED })
    .regex(DATABASE_URL_RE, { error: DATABASE_URL_EXPECTED })
    .optional(),
  /** PostgreSQL connections per process (PGlite has one session). Default 10. */
  poolSize: intIn(1, 1000).default(10),
  /**
   * PGlite's `shared_buffers`, MB. Default 16: PGlite's memory (WebAssembly) never shrinks, so
   * every buffer once used stays in the process's RSS; the pages beyond it are read from the
   * OS's file cache. PostgreSQL's own default, 128, cost ~120 MB of RSS at the peak bench for no
   * measurable speed. Ignored on PostgreSQL (set it on the server).
   */
  pgliteSharedBuffersMb: intIn(1, 4096).default(16),
});

const logSchema = z.strictObject({
  /** Minimum level written. Default `info`. Env `LOG_LEVEL`. */
  level: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  /**
   * Human-readable logs through `pino-pretty` when that package is installed (it is not a
   * dependency: install it on a dev machine); JSON lines otherwise. Default false. Env `LOG_PRETTY`.
   */
  pretty: z.boolean({ error: 'expected true or false' }).default(false),
});

const shutdownSchema = z.strictObject({
  /**
   * On SIGINT/SIGTERM, how long in-flight requests may take to finish before their connections
   * are cut. Default 10000 ms.
   */
  graceMs: intIn(0, 10 * 60_000).default(10_000),
});

const inventorySchema = z.strictObject({
  /** `SET LOCAL lock_timeout` for stock-row locks: a writer waits at most this long. Default 5000 ms. */
  lockTimeoutMs: intIn(1, 10 * 60_000).default(5000),
});

const SHOP_ID_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * One connected marketplace shop. The connector settings (credentials, endpoints) join this
 * section with the sync engine; today it holds what the order intake needs.
 */
const shopSchema = z
  .strictObject({
    /** Stable id used in keys, URLs and logs: lowercase letters, digits, `-`, `_` (e.g. `tmall-main`). */
    id: z.string({ error: 'expected a shop id' }).regex(SHOP_ID_RE, {
      error: 'expected 1-63 lowercase letters, digits, - or _, starting with a letter or digit',
    }),
    platform: platformSchema,
    /** Warehouse codes that fulfil this shop's orders, highest priority first. */
    warehouses: z
      .array(z.string().min(1), { error: 'expected a list of warehouse codes' })
      .min(1, { error: 'expected at least one warehouse code' }),
    /** `paid` (付款减库存, default): orders take stock once paid; `created` (拍下减库存): at once. */
    reserveOn: z.enum(['created', 'paid'], { error: 'expected created or paid' }).default('paid'),
    /**
     * With `reserveOn: created`: minutes an unpaid order may hold stock before it is given back
     * (payment reserves again). Default unset: no expiry.
     */
    unpaidHoldMinutes: intIn(1, 7 * 24 * 60).optional(),
    /** `receipt` (default): returned goods restock when received; `refund`: when the refund succeeds. */
    restockOn: z.enum(['receipt', 'refund'], { error: 'expected receipt or refund' }).default('receipt'),
    /** When no listing maps a line, use its 商家编码 (outer SKU id) as the SKU code. Default true. */
    matchOuterId: z.boolean({ error: 'expected true or false' }).default(true),
    /**
     * The marketplace connector's settings (credentials, endpoints), checked at start-up against
     * the platform's schema (connectors/<platform>/config.ts). Unset: the shop has no connector
     * (no webhooks; orders only by hand).
     */
    connector: z.record(z.string(), z.unknown(), { error: 'expected an object' }).optional(),
    /**
     * The platform's request quota for this shop, where it differs from the connector's default
     * (README, Stock push): requests per second and requests in flight. TOP, Doudian, PDD and JD
     * set quotas per app in their consoles, often far above the defaults at a sale. Every
     * request to the platform counts against it (a push to 7 Taobao items is 7).
     */
    rateLimit: z
      .strictObject(
        {
          requestsPerSecond: intIn(1, 10_000).optional(),
          concurrency: intIn(1, 64).optional(),
        },
        { error: 'expected an object with requestsPerSecond and/or concurrency' },
      )
      .optional(),
    /**
     * Demo and testing: run the platform's sandbox in this process and connect the shop to it
     * (instead of `connector`). The sandbox shop's catalog is mapped onto shared demo SKUs
     * (`DEMO-001`...) with opening stock, and it places orders at the given rate.
     */
    /**
     * How much stock this shop lists (see src/sync/channel-rules.ts): which of its warehouses feed
     * the listings, share, safety stock, min/max, and the oversell buffer. Default: everything
     * available in `warehouses`, no buffer.
     */
    push: pushRulesSchema.prefault({}),
    sandbox: z
      .strictObject({
        /** Orders the sandbox shop places per minute. Default 20. */
        ordersPerMinute: z.number({ error: 'expected a number' }).min(0).max(6000).default(20),
        /** Generator seed: the same seed gives the same shop. Default 1. */
        seed: intIn(1, 1_000_000).default(1),
        /** Opening stock of each demo SKU in the shop's first warehouse. Default 200. */
        openingStock: intIn(0, 1_000_000).default(200),
      })
      .optional(),
  })
  .superRefine((shop, ctx) => {
    for (const [i, code] of (shop.push.warehouses ?? []).entries()) {
      if (!shop.warehouses.includes(code))
        ctx.addIssue({
          code: 'custom',
          path: ['push', 'warehouses', i],
          message: `${JSON.stringify(code)} is not one of the shop's warehouses (${shop.warehouses.join(', ')}): its orders could not be served from it`,
        });
    }
  });

const cronExpression = (what: string) =>
  z.string({ error: `expected a node-cron expression for ${what}` }).refine((v) => cron.validate(v), {
    error: `expected a valid node-cron expression (6 fields with seconds)`,
  });

const syncSchema = z.strictObject({
  /** Run the inbox worker and the scheduled jobs in this process. Default true. */
  enabled: z.boolean({ error: 'expected true or false' }).default(true),
  /** When every shop with a connector is pulled. Default every 30 s (`*\/30 * * * * *`). */
  pullCron: cronExpression('sync.pullCron').default('*/30 * * * * *'),
  /** When unpaid holds are checked for expiry. Default every minute (`0 * * * * *`). */
  expiryCron: cronExpression('sync.expiryCron').default('0 * * * * *'),
  /** A shop's pull lease: one replica pulls it at a time; a dead one's lease runs out. Default 90000 ms. */
  leaseMs: intIn(1000, 3_600_000).default(90_000),
  /** Inbox worker sleep when idle (a delivery wakes it at once). Default 500 ms. */
  inboxIdleMs: intIn(10, 60_000).default(500),
  /** Stock push loop sleep when idle (applied orders wake it at once). Default 250 ms. */
  pushIdleMs: intIn(10, 60_000).default(250),
  /**
   * When every listing of shops that can read stock back is compared with the platform (drift
   * report and correction). Default every 5 minutes (`0 *\/5 * * * *`).
   */
  reconcileCron: cronExpression('sync.reconcileCron').default('0 */5 * * * *'),
  /** Failed pushes of one listing before it is suspended (until its quantity changes). Default 8. */
  pushMaxAttempts: intIn(1, 100).default(8),
  /** A paused shop (credentials refused) re-checks its connection this often. Default 60000 ms. */
  pauseProbeMs: intIn(1000, 3_600_000).default(60_000),
  /**
   * Units the platform sold that we had not imported yet are held back from pushes for at most
   * this long; if the orders never arrive it was a manual edit, reported as drift. Default 900000 ms.
   */
  heldBackGraceMs: intIn(1000, 86_400_000).default(900_000),
  /**
   * Platforms that take stock changes (Douyin): a listing changed without a read is read back
   * (and set right where it differs) within this long, while `changeReadBackForMs` has not
   * passed since its last absolute write. Default 10000 ms.
   */
  changeReadBackMs: intIn(1000, 3_600_000).default(10_000),
  /**
   * How long after a listing's last absolute write (its first push) orders placed before it may
   * still be coming in: the listing is read back every `changeReadBackMs` until then. Default
   * 900000 ms.
   */
  changeReadBackForMs: intIn(1000, 86_400_000).default(900_000),
});

/** What Hono's bearer auth accepts as a token (RFC 6750 `b64token`); anything else could never match. */
const BEARER_TOKEN_RE = /^[A-Za-z0-9._~+/-]+=*$/;
const ADMIN_TOKEN_EXPECTED = 'expected at least 16 characters of A-Z a-z 0-9 . _ ~ + / - (then optional =)';

const adminSchema = z.strictObject({
  /**
   * Bearer token of the admin JSON API under `/api`: when set, every `/api` request needs
   * `Authorization: Bearer <token>` (compared in constant time), else 401. Default unset: `/api`
   * is open, which is allowed only while `server.host` is a loopback address (127.0.0.0/8, ::1,
   * localhost); any other host without a token fails the boot. At least 16 characters, e.g.
   * `openssl rand -hex 32`. Env `ADMIN_TOKEN`; keep it out of config files. Never logged.
   */
  token: z
    .string({ error: ADMIN_TOKEN_EXPECTED })
    .min(16, { error: ADMIN_TOKEN_EXPECTED })
    .max(1000, { error: ADMIN_TOKEN_EXPECTED })
    .regex(BEARER_TOKEN_RE, { error: ADMIN_TOKEN_EXPECTED })
    .optional(),
});

/**
 * True for hosts only this machine can reach: 127.0.0.0/8, ::1 (also IPv4-mapped) and
 * `localhost`. `0.0.0.0`, `::` and every other name or address count as reachable from outside.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  return (
    h === 'localhost' ||
    h === '::1' ||
    h === '0:0:0:0:0:0:0:1' ||
    /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
  );
}

/** The message of the issue raised when the admin API would be open to the network. */
export const ADMIN_TOKEN_REQUIRED = 'required when server.host is not loopback';

/** The whole configuration. New sections (shops, sync, ...) are added here, each strict. */
export const configSchema = z
  .strictObject({
    /** Free text for humans (JSON has no comments); ignored. */
    $comment: z.string().optional(),
    server: serverSchema.prefault({}),
    database: databaseSchema.prefault({}),
    log: logSchema.prefault({}),
    shutdown: shutdownSchema.prefault({}),
    inventory: inventorySchema.prefault({}),
    sync: syncSchema.prefault({}),
    /** Connected shops. Default none. */
    shops: z
      .array(shopSchema)
      .default([])
      .refine((shops) => new Set(shops.map((x) => x.id)).size === shops.length, {
        error: 'each shop id may appear once',
      })
      .refine((shops) => shops.every((x) => !(x.sandbox && x.connector)), {
        error: 'a shop has either connector settings or a sandbox, not both',
      }),
    admin: adminSchema.prefault({}),
  })
  .superRefine((c, ctx) => {
    // Why refuse to boot rather than serve /api unauthenticated: the admin API moves stock; an
    // open port on 0.0.0.0 would let anyone on the network do so. Loopback keeps the demo simple.
    if (c.admin.token === undefined && !isLoopbackHost(c.server.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['admin', 'token'],
        message: `${ADMIN_TOKEN_REQUIRED} (server.host is ${JSON.stringify(c.server.host)}); set env ADMIN_TOKEN`,
      });
    }
  })
  .transform(({ $comment: _, ...rest }) => rest);

export type Config = DeepReadonly<z.output<typeof configSchema>>;

type DeepReadonly<T> = T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** One problem with one key. `source` is `file <path>`, `env <NAME>` or `default`. */
export interface ConfigIssue {
  path: string;
  source: string;
  message: string;
}

/** Invalid configuration. The message lists every issue, one per line, and never a secret. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly issues: readonly ConfigIssue[],
    options?: { cause?: unknown },
  ) {
    super(
      `invalid configuration:\n${issues.map((i) => `  ${i.path} (from ${i.source}): ${i.message}`).join('\n')}`,
      options,
    );
  }
}

/** The default file, relative to the working directory. */
export const DEFAULT_CONFIG_FILE = 'config/default.json';

type Env = Readonly<Record<string, string | undefined>>;

/** How a secret value is shown in messages: `url` masks a URL's password, `all` the whole value. */
type SecretKind = 'url' | 'all';

interface EnvOverride {
  name: string;
  path: readonly [string, string];
  parse: (raw: string) => ParseResult;
  /** Mask the value in messages. */
  secret?: SecretKind;
}

type ParseResult = { ok: true; value: unknown } | { ok: false; expected: string };

/** Explicit env parsers: each accepts only the spellings it documents. */
export const envParsers = {
  /** Decimal digits only: "3000". Rejects "", " ", "3e3", "0x10", "12abc". */
  integer(raw: string): ParseResult {
    const s = raw.trim();
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) return { ok: false, expected: 'an integer' };
    return { ok: true, value: Number(s) };
  },
  /** true/false, 1/0, yes/no, on/off (any case). Rejects "" and everything else. */
  boolean(raw: string): ParseResult {
    const s = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(s)) return { ok: true, value: true };
    if (['false', '0', 'no', 'off'].includes(s)) return { ok: true, value: false };
    return { ok: false, expected: 'true or false (also 1/0, yes/no, on/off)' };
  },
  /** Any non-blank string, trimmed. */
  string(raw: string): ParseResult {
    const s = raw.trim();
    return s === '' ? { ok: false, expected: 'a non-empty value' } : { ok: true, value: s };
  },
};

/** Values masked in messages: a database URL may carry a password; a token is a secret. */
const SECRET_PATHS = new Map<string, SecretKind>([
  ['database.url', 'url'],
  ['admin.token', 'all'],
]);

const ENV_OVERRIDES: readonly EnvOverride[] = [
  { name: 'DATABASE_URL', path: ['database', 'url'], parse: envParsers.string, secret: 'url' },
  { name: 'PORT', path: ['server', 'port'], parse: envParsers.integer },
  { name: 'HOST', path: ['server', 'host'], parse: envParsers.string },
  { name: 'LOG_LEVEL', path: ['log', 'level'], parse: envParsers.string },
  { name: 'LOG_PRETTY', path: ['log', 'pretty'], parse: envParsers.boolean },
  { name: 'ADMIN_TOKEN', path: ['admin', 'token'], parse: envParsers.string, secret: 'all' },
];

/**
 * Loads, validates and freezes the configuration. Throws {@link ConfigError} on any problem,
 * listing all of them at once.
 */
export function loadConfig(env: Env = process.env): Config {
  const issues: ConfigIssue[] = [];
  const fileName = env.CONFIG ?? DEFAULT_CONFIG_FILE;
  if (fileName.trim() === '') {
    throw new ConfigError([{ path: '(config file)', source: 'env CONFIG', message: 'expected a file path' }]);
  }
  const fileSource = `file ${fileName}`;
  const raw = readJsonFile(fileName, fileSource);

  const sources = new Map<string, string>();
  for (const o of ENV_OVERRIDES) {
    const value = env[o.name];
    if (value === undefined) continue;
    const path = o.path.join('.');
    const parsed = o.parse(value);
    if (!parsed.ok) {
      issues.push({
        path,
        source: `env ${o.name}`,
        message: `expected ${parsed.expected}, got ${show(value, o.secret)}`,
      });
      continue;
    }
    const [section, key] = o.path;
    const current = raw[section];
    if (current === undefined) raw[section] = { [key]: parsed.value };
    else if (isPlainObject(current)) raw[section] = { ...current, [key]: parsed.value };
    else continue; // the file's own error about `section` is reported below
    sources.set(path, `env ${o.name}`);
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          issues.push({
            path: [...issue.path, key].join('.'),
            source: fileSource,
            message: 'unknown key (misspelt, or not an option of this version)',
          });
        }
        continue;
      }
      const path = issue.path.map(String).join('.') || '(root)';
      const value = valueAt(raw, issue.path);
      const got = value === undefined ? '' : `, got ${show(value, SECRET_PATHS.get(path))}`;
      issues.push({ path, source: sources.get(path) ?? fileSource, message: `${issue.message}${got}` });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return deepFreeze(result.data!) as Config;
}

function readJsonFile(fileName: string, source: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(fileName, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      [{ path: '(config file)', source, message: `cannot read it (${code ?? (err as Error).message})` }],
      { cause: err },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      [{ path: '(config file)', source, message: `expected JSON: ${(err as Error).message}` }],
      { cause: err },
    );
  }
  if (!isPlainObject(value)) {
    throw new ConfigError([{ path: '(root)', source, message: 'expected a JSON object' }]);
  }
  return value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const key of path) {
    if (!isPlainObject(v) && !Array.isArray(v)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function show(value: unknown, secret?: SecretKind): string {
  if (secret === 'all') return '"***"';
  if (secret === 'url' && typeof value === 'string')
    return JSON.stringify(value.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@'));
  const s = JSON.stringify(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/**
 * For entry points (`npm start`, the CLIs): the configuration, or the ConfigError's message on
 * stderr as `<program>: ...` and exit code 2. No stack trace: the message names every bad key.
 */
export function loadConfigOrExit(program: string, env: Env = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${program}: ${err.message}\n`);
    process.exit(2);
  }
}
