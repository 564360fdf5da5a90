/**
 * The logger factory: pino, JSON lines on stdout, secrets redacted.
 *
 * Scope loggers with `log.child({ component })`, `log.child({ shop })`, `log.child({ requestId })`
 * rather than repeating fields. Log objects under these keys are redacted wherever they appear up
 * to four levels deep: password, secret, token, accessToken, refreshToken, apiKey, appSecret,
 * clientSecret, authorization and cookie headers. Strings that are URLs carrying a password
 * (`postgres://user:pw@host/db`) anywhere in `url`, `databaseUrl` or `connectionString` keep
 * their shape with the password masked.
 */
import { createRequire } from 'node:module';
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import type { Config } from './config.js';

export type { Logger } from 'pino';

const SECRET_KEYS = [
  'password',
  'secret',
  'token',
  'accessToken',
  'refreshToken',
  'apiKey',
  'appSecret',
  'clientSecret',
];
const URL_KEYS = ['url', 'databaseUrl', 'connectionString'];
const HEADER_KEYS = ['authorization', 'cookie', '["set-cookie"]', '["x-api-key"]'];
/** Key paths at the root and under up to three levels of objects (`*.`, `*.*.`, `*.*.*.`). */
const PREFIXES = ['', '*.', '*.*.', '*.*.*.'];

export const REDACT_PATHS: readonly string[] = [
  ...PREFIXES.flatMap((p) => [...SECRET_KEYS, ...URL_KEYS].map((k) => `${p}${k}`)),
  ...['', '*.', '*.*.'].flatMap((p) =>
    HEADER_KEYS.map((h) => `${p}headers${h.startsWith('[') ? h : `.${h}`}`),
  ),
];

const URL_KEY_SET = new Set(URL_KEYS);

/** `postgres://user:pw@host/db` -> `postgres://user:***@host/db`; other strings unchanged. */
export function maskUrlPassword(s: string): string {
  return s.replace(/(\/\/[^:/@\s]*:)[^@/\s]*@/g, '$1***@');
}

function censor(value: unknown, path: string[]): unknown {
  const key = path[path.length - 1] ?? '';
  if (URL_KEY_SET.has(key)) return typeof value === 'string' ? maskUrlPassword(value) : value;
  return '[Redacted]';
}

export interface LoggerSetup {
  /** Where lines go; default stdout. Tests pass a stream to read them back. */
  destination?: DestinationStream;
  /** Fields on every line; default `{ name: 'stockd', pid }`. */
  base?: Record<string, unknown>;
}

/** Creates the root logger from `config.log`. */
export function createLogger(config: Config['log'], setup: LoggerSetup = {}): Logger {
  const options: LoggerOptions = {
    level: config.level,
    base: setup.base ?? { name: 'stockd', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...REDACT_PATHS], censor },
    serializers: { err: pino.stdSerializers.err },
  };
  if (config.pretty && !setup.destination) {
    if (resolvable('pino-pretty')) {
      return pino({ ...options, transport: { target: 'pino-pretty' } });
    }
    const log = pino(options);
    log.warn('log.pretty is set but pino-pretty is not installed; writing JSON lines');
    return log;
  }
  return setup.destination ? pino(options, setup.destination) : pino(options);
}

function resolvable(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}
