/**
 * The daemon's entry point: config -> logger -> daemon (database, migrations, HTTP) -> signals.
 *
 * Exit codes: 0 after a graceful stop, 1 when starting or stopping failed or the embedded
 * database's worker thread died, 2 for invalid configuration (the message names each bad key
 * and its source; no stack), 128+n when a second signal n cut the graceful stop short.
 */
import { loadConfigOrExit } from './config.js';
import { startDaemon } from './daemon.js';
import { createLogger } from './log.js';

const config = loadConfigOrExit('stockd');

const log = createLogger(config.log);
process.on('unhandledRejection', (reason) => {
  log.fatal({ err: reason }, 'unhandled promise rejection');
  process.exit(1);
});

const daemon = await startDaemon(config, log, { onDatabaseLost: () => process.exit(1) }).catch(
  (err: unknown) => {
    log.fatal({ err }, 'stockd failed to start');
    process.exit(1);
  },
);

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(128 + SIGNAL_NUMBERS[signal]);
    }
    stopping = true;
    log.info({ signal, graceMs: config.shutdown.graceMs }, 'shutting down');
    daemon.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
