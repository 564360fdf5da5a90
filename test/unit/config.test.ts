import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, type ConfigIssue, envParsers, isLoopbackHost, loadConfig } from '../../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'stockd-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.unstubAllEnvs());

let n = 0;
/** Writes a config file and returns the env that selects it. */
function file(content: unknown): { CONFIG: string } {
  const path = join(dir, `c${n++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return { CONFIG: path };
}

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected loadConfig to throw');
}

function expectIssue(err: ConfigError, issue: ConfigIssue) {
  expect(err.issues).toContainEqual(issue);
  expect(err.message).toContain(`${issue.path} (from ${issue.source}): ${issue.message}`);
}

const DEFAULTS = {
  server: { host: '127.0.0.1', port: 3000, bodyLimitBytes: 1_048_576 },
  database: { poolSize: 10, pgliteSharedBuffersMb: 16 },
  log: { level: 'info', pretty: false },
  shutdown: { graceMs: 10_000 },
  inventory: { lockTimeoutMs: 5000 },
  admin: {},
  sync: {
    enabled: true,
    pullCron: '*/30 * * * * *',
    expiryCron: '0 * * * * *',
    leaseMs: 90_000,
    inboxIdleMs: 500,
    pushIdleMs: 250,
    reconcileCron: '0 */5 * * * *',
    pushMaxAttempts: 8,
    pauseProbeMs: 60_000,
    heldBackGraceMs: 900_000,
    changeReadBackMs: 10_000,
    changeReadBackForMs: 900_000,
  },
  shops: [],
};

/** A syntactically valid admin token (not a real secret). */
const TOKEN = 'test-admin-token-0123456789abcdef';

describe('loadConfig: sources', () => {
  it('reads config/default.json when CONFIG is unset: the PGlite demo on port 3000 with three sandbox shops', () => {
    const config = loadConfig({});
    const { shops, sync, ...rest } = config;
    const { shops: _s, sync: defaultSync, ...defaults } = DEFAULTS;
    expect(rest).toEqual(defaults);
    expect(sync).toEqual({ ...defaultSync, pullCron: '*/10 * * * * *' });
    expect(config.database.url).toBeUndefined();
    expect(shops.map((s) => [s.id, s.platform, s.sandbox?.ordersPerMinute])).toEqual([
      ['shopify-demo', 'shopify', 20],
      ['tmall-demo', 'taobao', 20],
      ['douyin-demo', 'douyin', 20],
    ]);
    expect(shops.every((s) => s.connector === undefined && s.warehouses.join() === 'MAIN')).toBe(true);
  });

  it('fills every option from the schema defaults when the file is empty', () => {
    expect(loadConfig(file({}))).toEqual(DEFAULTS);
  });

  it('returns a deeply frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.server)).toBe(true);
    expect(() => {
      (config.server as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('reads the file named by CONFIG and drops $comment', () => {
    const config = loadConfig({ CONFIG: 'config/production.example.json', ADMIN_TOKEN: TOKEN });
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.log.level).toBe('info');
    expect(config.database.url).toBeUndefined();
    expect(config).not.toHaveProperty('$comment');
  });

  it('takes file values over defaults, keeping defaults for the rest of a section', () => {
    const config = loadConfig(file({ server: { port: 8080 }, inventory: { lockTimeoutMs: 250 } }));
    expect(config.server).toEqual({ host: '127.0.0.1', port: 8080, bodyLimitBytes: 1_048_576 });
    expect(config.inventory.lockTimeoutMs).toBe(250);
  });

  it.each([
    [
      'DATABASE_URL',
      'postgres://stockd:pw@db:5432/stockd',
      (c: ReturnType<typeof loadConfig>) => c.database.url,
    ],
    ['DATABASE_URL', 'pglite:/var/lib/stockd', (c: ReturnType<typeof loadConfig>) => c.database.url],
    ['PORT', '8081', (c: ReturnType<typeof loadConfig>) => c.server.port],
    ['HOST', '0.0.0.0', (c: ReturnType<typeof loadConfig>) => c.server.host],
    ['LOG_LEVEL', 'debug', (c: ReturnType<typeof loadConfig>) => c.log.level],
    ['LOG_PRETTY', 'true', (c: ReturnType<typeof loadConfig>) => c.log.pretty],
  ])('env %s=%s overrides the file', (name, value, pick) => {
    const base = file({
      server: { port: 3001, host: '127.0.0.2' },
      database: { url: 'pglite:./elsewhere' },
      log: { level: 'warn', pretty: false },
      admin: { token: TOKEN },
    });
    const before = pick(loadConfig(base));
    const after = pick(loadConfig({ ...base, [name]: value }));
    expect(after).not.toEqual(before);
    expect(String(after)).toBe(value);
  });

  it('PORT=0 is allowed (any free port)', () => {
    expect(loadConfig({ PORT: '0' }).server.port).toBe(0);
  });

  it('reads process.env when no env is passed', () => {
    vi.stubEnv('PORT', '4321');
    expect(loadConfig().server.port).toBe(4321);
  });
});

describe('loadConfig: env pitfalls that z.coerce gets wrong', () => {
  it('LOG_PRETTY=false is false (z.coerce.boolean would say true)', () => {
    expect(loadConfig({ ...file({ log: { pretty: true } }), LOG_PRETTY: 'false' }).log.pretty).toBe(false);
    expect(loadConfig({ ...file({ log: { pretty: true } }), LOG_PRETTY: '0' }).log.pretty).toBe(false);
    expect(loadConfig({ LOG_PRETTY: 'FALSE' }).log.pretty).toBe(false);
    expect(loadConfig({ LOG_PRETTY: 'on' }).log.pretty).toBe(true);
  });

  it('PORT="" is an error, not port 0 (z.coerce.number would say 0)', () => {
    expectIssue(configError({ PORT: '' }), {
      path: 'server.port',
      source: 'env PORT',
      message: 'expected an integer, got ""',
    });
    expectIssue(configError({ PORT: '   ' }), {
      path: 'server.port',
      source: 'env PORT',
      message: 'expected an integer, got "   "',
    });
  });

  it('LOG_PRETTY="" is an error, not false', () => {
    const err = configError({ LOG_PRETTY: '' });
    expect(err.issues[0]).toMatchObject({ path: 'log.pretty', source: 'env LOG_PRETTY' });
  });

  it.each(['3e3', '0x10', '3000.5', '-1', '12abc', 'Infinity', '99999999999999999999'])(
    'PORT=%s is rejected (Number() would accept some of these)',
    (value) => {
      const err = configError({ PORT: value });
      expect(err.issues).toHaveLength(1);
      expect(err.issues[0]).toMatchObject({ path: 'server.port', source: 'env PORT' });
      expect(err.message).toMatch(/expected an integer/);
    },
  );

  it('the parsers accept exactly their documented spellings', () => {
    expect(envParsers.boolean('yes')).toEqual({ ok: true, value: true });
    expect(envParsers.boolean('no')).toEqual({ ok: true, value: false });
    expect(envParsers.boolean('maybe').ok).toBe(false);
    expect(envParsers.integer(' 42 ')).toEqual({ ok: true, value: 42 });
    expect(envParsers.integer('').ok).toBe(false);
    expect(envParsers.string('  ').ok).toBe(false);
  });
});

describe('loadConfig: bad values name the key path, the source and what was expected', () => {
  it.each([
    [{ PORT: 'abc' }, 'server.port', 'env PORT', 'expected an integer, got "abc"'],
    [{ PORT: '70000' }, 'server.port', 'env PORT', 'expected an integer from 0 to 65535, got 70000'],
    [{ HOST: '' }, 'server.host', 'env HOST', 'expected a non-empty value, got ""'],
    [{ LOG_LEVEL: 'verbose' }, 'log.level', 'env LOG_LEVEL', 'expected one of fatal, error, warn, info'],
    [{ LOG_PRETTY: 'maybe' }, 'log.pretty', 'env LOG_PRETTY', 'expected true or false'],
    [{ DATABASE_URL: 'mysql://x@h/db' }, 'database.url', 'env DATABASE_URL', 'expected pglite:<dir>'],
    [{ DATABASE_URL: '' }, 'database.url', 'env DATABASE_URL', 'expected a non-empty value'],
  ])('env %o -> %s', (env, path, source, message) => {
    const err = configError(env);
    expect(err.issues).toHaveLength(1);
    const [issue] = err.issues;
    expect(issue).toMatchObject({ path, source });
    expect(issue?.message).toContain(message);
    expect(err.message).toContain(`${path} (from ${source})`);
  });

  it.each([
    [{ server: { port: '3000' } }, 'server.port', 'expected an integer from 0 to 65535, got "3000"'],
    [{ server: { port: 3000.5 } }, 'server.port', 'expected an integer from 0 to 65535'],
    [{ server: { host: 7 } }, 'server.host', 'expected a host name or IP address'],
    [{ server: { bodyLimitBytes: 0 } }, 'server.bodyLimitBytes', 'expected an integer from 1 to'],
    [{ database: { poolSize: 0 } }, 'database.poolSize', 'expected an integer from 1 to 1000, got 0'],
    [
      { database: { pgliteSharedBuffersMb: '64MB' } },
      'database.pgliteSharedBuffersMb',
      'expected an integer from 1 to 4096, got "64MB"',
    ],
    [
      { database: { url: 'sqlite:./x' } },
      'database.url',
      'expected pglite:<dir>, pglite:memory or postgres://',
    ],
    [{ log: { level: 'loud' } }, 'log.level', 'expected one of'],
    [{ log: { pretty: 'false' } }, 'log.pretty', 'expected true or false, got "false"'],
    [{ shutdown: { graceMs: -1 } }, 'shutdown.graceMs', 'expected an integer from 0 to'],
    [{ inventory: { lockTimeoutMs: 1.5 } }, 'inventory.lockTimeoutMs', 'expected an integer from 1 to'],
    [{ server: 5 }, 'server', 'expected object'],
  ])('file %o -> %s', (content, path, message) => {
    const env = file(content);
    const err = configError(env);
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({ path, source: `file ${env.CONFIG}` });
    expect(err.issues[0]?.message).toContain(message);
  });

  it('rejects unknown keys at every level, naming each', () => {
    const env = file({ serverr: {}, server: { prot: 80 }, inventory: { lockTimeout: 1 } });
    const err = configError(env);
    expect(err.issues.map((i) => i.path).sort()).toEqual(['inventory.lockTimeout', 'server.prot', 'serverr']);
    for (const issue of err.issues) {
      expect(issue.source).toBe(`file ${env.CONFIG}`);
      expect(issue.message).toMatch(/unknown key/);
    }
  });

  it('reports every problem at once, each with its own source', () => {
    const env = { ...file({ database: { poolSize: -5 } }), PORT: 'x', LOG_LEVEL: 'loud' };
    const err = configError(env);
    expect(err.issues.map((i) => [i.path, i.source]).sort()).toEqual([
      ['database.poolSize', `file ${env.CONFIG}`],
      ['log.level', 'env LOG_LEVEL'],
      ['server.port', 'env PORT'],
    ]);
  });

  it('an env value that parses but is out of range is blamed on the env var, not the file', () => {
    const env = { ...file({ server: { port: 3000 } }), PORT: '65536' };
    expectIssue(configError(env), {
      path: 'server.port',
      source: 'env PORT',
      message: 'expected an integer from 0 to 65535, got 65536',
    });
  });

  it('never prints a database password', () => {
    const err = configError({ DATABASE_URL: 'mysql://stockd:hunter2@db/stockd' });
    expect(err.message).not.toContain('hunter2');
    expect(err.message).toContain('stockd:***@db');
    const fromFile = configError(file({ database: { url: 'mysql://stockd:hunter2@db/stockd' } }));
    expect(fromFile.message).not.toContain('hunter2');
  });

  it('a missing file, invalid JSON or a non-object names the file', () => {
    const missing = join(dir, 'nope.json');
    expect(configError({ CONFIG: missing }).message).toContain(`file ${missing}`);
    expect(configError({ CONFIG: missing }).message).toContain('ENOENT');
    const broken = file('{ "server": ');
    expect(configError(broken).message).toMatch(/expected JSON/);
    expect(configError(file([1, 2])).message).toMatch(/expected a JSON object/);
    expect(configError({ CONFIG: '' }).issues[0]).toMatchObject({ source: 'env CONFIG' });
  });
});

describe('loadConfig: admin.token', () => {
  it('is unset by default, and env ADMIN_TOKEN sets it (trimmed)', () => {
    expect(loadConfig({}).admin.token).toBeUndefined();
    expect(loadConfig({ ADMIN_TOKEN: ` ${TOKEN} ` }).admin.token).toBe(TOKEN);
  });

  it('env ADMIN_TOKEN overrides the file', () => {
    const env = file({ admin: { token: 'file-token-0123456789abcdef' } });
    expect(loadConfig(env).admin.token).toBe('file-token-0123456789abcdef');
    expect(loadConfig({ ...env, ADMIN_TOKEN: TOKEN }).admin.token).toBe(TOKEN);
  });

  it.each(['127.0.0.1', '127.0.0.2', 'localhost', 'LOCALHOST', '::1', '[::1]'])(
    'may stay unset while server.host is loopback (%s)',
    (host) => {
      expect(loadConfig(file({ server: { host } })).admin.token).toBeUndefined();
    },
  );

  it.each([
    ['0.0.0.0', { HOST: '0.0.0.0' }],
    ['::', { HOST: '::' }],
    ['192.168.1.10', { HOST: '192.168.1.10' }],
    ['stockd.internal', { HOST: 'stockd.internal' }],
  ])('is required when server.host is %s', (host, env) => {
    const err = configError({ ...file({}), ...env });
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({ path: 'admin.token' });
    expect(err.issues[0]?.message).toContain('required when server.host is not loopback');
    expect(err.issues[0]?.message).toContain(JSON.stringify(host));
    expect(err.message).toContain('ADMIN_TOKEN');
    expect(loadConfig({ ...file({}), ...env, ADMIN_TOKEN: TOKEN }).admin.token).toBe(TOKEN);
  });

  it('production.example.json needs ADMIN_TOKEN (host 0.0.0.0) and holds no token itself', () => {
    const err = configError({ CONFIG: 'config/production.example.json' });
    expectIssue(err, {
      path: 'admin.token',
      source: 'file config/production.example.json',
      message: 'required when server.host is not loopback (server.host is "0.0.0.0"); set env ADMIN_TOKEN',
    });
  });

  it.each([
    ['short', { ADMIN_TOKEN: 'short-secret' }, 'env ADMIN_TOKEN'],
    ['with a space', { ADMIN_TOKEN: 'hunter2 hunter2 hunter2' }, 'env ADMIN_TOKEN'],
    ['with a quote', { ADMIN_TOKEN: 'hunter2"hunter2hunter2' }, 'env ADMIN_TOKEN'],
  ])('a token that bearer auth could never match (%s) is refused without printing it', (_, env, source) => {
    const err = configError(env);
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({ path: 'admin.token', source });
    expect(err.issues[0]?.message).toMatch(/expected at least 16 characters/);
    expect(err.message).toContain('got "***"');
    expect(err.message).not.toMatch(/short-secret|hunter2/);
  });

  it('a bad token in the file is refused without printing it; a blank env one too', () => {
    const env = file({ admin: { token: 'hunter2' } });
    const err = configError(env);
    expectIssue(err, {
      path: 'admin.token',
      source: `file ${env.CONFIG}`,
      message: 'expected at least 16 characters of A-Z a-z 0-9 . _ ~ + / - (then optional =), got "***"',
    });
    expect(err.message).not.toContain('hunter2');
    expectIssue(configError({ ADMIN_TOKEN: '  ' }), {
      path: 'admin.token',
      source: 'env ADMIN_TOKEN',
      message: 'expected a non-empty value, got "***"',
    });
  });

  it('rejects unknown keys in the admin section', () => {
    const err = configError(file({ admin: { tokn: TOKEN } }));
    expect(err.issues.map((i) => i.path)).toEqual(['admin.tokn']);
  });

  it('isLoopbackHost: 127.0.0.0/8, ::1 and localhost only', () => {
    for (const h of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      '::ffff:127.0.0.1',
      'localhost',
      ' Localhost ',
    ]) {
      expect(isLoopbackHost(h), h).toBe(true);
    }
    for (const h of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '128.0.0.1',
      'localhost.example.com',
      '127.0.0.1.nip.io',
      '',
    ]) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });
});

describe('shops', () => {
  const withShops = (shops: unknown) => {
    const dir = mkdtempSync(join(tmpdir(), 'stockd-shops-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ shops }));
    return { CONFIG: file };
  };
  /** The issues (`path: message`) of shops the config refuses. */
  const issuesOf = (shops: unknown): string[] => {
    try {
      loadConfig(withShops(shops));
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    }
    throw new Error('the config was accepted');
  };

  it('fills each shop with its defaults', () => {
    const config = loadConfig(withShops([{ id: 'tmall-main', platform: 'taobao', warehouses: ['SH'] }]));
    expect(config.shops).toEqual([
      {
        id: 'tmall-main',
        platform: 'taobao',
        warehouses: ['SH'],
        reserveOn: 'paid',
        restockOn: 'receipt',
        matchOuterId: true,
        push: { enabled: true, sharePercent: 100, safetyStock: 0, minQuantity: 0, buffer: { mode: 'off' } },
      },
    ]);
  });

  it('checks the channel push rules, naming each bad key', () => {
    const issues = issuesOf([
      {
        id: 'dy',
        platform: 'douyin',
        warehouses: ['SH', 'BJ'],
        push: { warehouses: ['SH', 'GZ'], sharePercent: 120, buffer: { mode: 'adaptive', maxUnits: -1 } },
      },
      { id: 'jd', platform: 'jd', warehouses: ['SH'], push: { minQuantity: 9, maxQuantity: 3 } },
    ]);
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^shops\.0\.push\.sharePercent: expected an integer from 0 to 100/),
        expect.stringMatching(/^shops\.0\.push\.buffer\.maxUnits: expected an integer from 0/),
        expect.stringMatching(/^shops\.1\.push: maxQuantity must not be below minQuantity/),
      ]),
    );
    // A channel may list only warehouses that can serve its orders.
    expect(() =>
      loadConfig(
        withShops([{ id: 'dy', platform: 'douyin', warehouses: ['SH'], push: { warehouses: ['GZ'] } }]),
      ),
    ).toThrow(/shops\.0\.push\.warehouses\.0.*"GZ" is not one of the shop's warehouses/);
  });

  it('names the bad key of a bad shop', () => {
    let err: unknown;
    try {
      loadConfig(
        withShops([
          { id: 'Tmall Main', platform: 'ebay', warehouses: [] },
          { id: 'x', platform: 'jd', warehouses: ['A'], reserveOn: 'never' },
        ]),
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const paths = (err as ConfigError).issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(['shops.0.id', 'shops.0.platform', 'shops.0.warehouses', 'shops.1.reserveOn']),
    );
  });

  it("takes a shop's request quota, and names a bad one", () => {
    const config = loadConfig(
      withShops([{ id: 'tm', platform: 'taobao', warehouses: ['SH'], rateLimit: { requestsPerSecond: 80 } }]),
    );
    expect(config.shops[0]!.rateLimit).toEqual({ requestsPerSecond: 80 });
    const issues = issuesOf([
      { id: 'a', platform: 'taobao', warehouses: ['SH'], rateLimit: { requestsPerSecond: 0.5 } },
      { id: 'b', platform: 'jd', warehouses: ['SH'], rateLimit: { concurrency: 0, qps: 3 } },
    ]);
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^shops\.0\.rateLimit\.requestsPerSecond: expected an integer from 1 to 10000/),
        expect.stringMatching(/^shops\.1\.rateLimit\.concurrency: expected an integer from 1 to 64/),
        expect.stringMatching(/^shops\.1\.rateLimit.*qps/),
      ]),
    );
  });

  it('refuses a shop with both connector settings and a sandbox', () => {
    const shop = { id: 'a', platform: 'shopify', warehouses: ['A'], connector: {}, sandbox: {} };
    expect(() => loadConfig(withShops([shop]))).toThrow(/either connector settings or a sandbox/);
  });

  it('refuses two shops with one id', () => {
    const shop = { id: 'a', platform: 'jd', warehouses: ['A'] };
    expect(() => loadConfig(withShops([shop, shop]))).toThrow(/each shop id may appear once/);
  });
});

describe('sync', () => {
  it('refuses a cron expression node-cron cannot run, naming the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stockd-sync-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ sync: { pullCron: 'every 30 seconds' } }));
    expect(() => loadConfig({ CONFIG: file })).toThrow(
      /sync\.pullCron .*expected a valid node-cron expression/,
    );
  });
});
