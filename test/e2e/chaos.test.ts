/**
 * The chaos run, short (test/chaos/driver.ts; `npm run chaos` is the full one): the daemon as a
 * process, SIGKILLed and restarted a few times while three sandbox shops sell and cancel, their
 * webhooks arrive twice, out of order or not at all, bad deliveries are thrown at it and the
 * platforms' APIs fail in phases. Then every order must be in the ledger once with its final
 * status, every line's stock exact, the ledger's invariants hold and every platform show what the
 * ledger wants. No PostgreSQL restart here: other test files use the same server at the same time.
 *
 * Convergence cannot be quicker than the claim leases: inbox events and outbox rows claimed by a
 * daemon that is then SIGKILLed stay hidden for 60 s (src/orders/inbox.ts, src/sync/push-send.ts),
 * so a run takes about two minutes.
 */
import { describe, expect, it } from 'vitest';
import { type ChaosOptions, runChaos } from '../chaos/driver.js';
import { formatReport } from '../chaos/report.js';
import { onPostgres, testServerUrl } from '../support/db.js';

const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 1_000_000) + 1);

const short: Omit<ChaosOptions, 'database' | 'pgServerUrl'> = {
  durationS: 25,
  kills: 3,
  maxKills: 4,
  rate: 5,
  pgRestart: false,
  seed,
  convergeTimeoutS: 150,
  // CHAOS_KEEP=1 keeps the database and the daemon's directory for a look after a failure.
  keep: process.env.CHAOS_KEEP === '1',
};

async function run(options: ChaosOptions) {
  const lines: string[] = [];
  const report = await runChaos({ ...options, log: (l) => lines.push(l) });
  const failed = report.checks.filter((c) => !c.ok);
  // The table and the progress lines only when something is wrong (CHAOS_SEED=<seed> repeats the choices).
  expect(failed, `seed ${seed}\n${lines.join('\n')}\n${formatReport(report)}`).toEqual([]);
  expect(report.daemon.kills).toBeGreaterThanOrEqual(options.kills);
  expect(report.webhooks.duplicated).toBeGreaterThan(0);
  expect(report.webhooks.reordered).toBeGreaterThan(0);
  expect(report.webhooks.bad.sent).toBeGreaterThan(0);
  return report;
}

describe.skipIf(!onPostgres)(
  'chaos, short, on PostgreSQL (the PostgreSQL suite: it needs a server to create its database on)',
  () => {
    it('survives SIGKILLs, API faults and duplicated, reordered and bad webhooks: every order once, stock exact, platforms converged', {
      timeout: 420_000,
    }, async () => {
      await run({ ...short, database: 'postgres', pgServerUrl: testServerUrl });
    });
  },
);

describe.skipIf(onPostgres)(
  'chaos, short, on PGlite (the PGlite suite: the embedded default data directory must survive SIGKILL)',
  () => {
    it('survives SIGKILLs of the one process holding the data directory, API faults and bad webhooks: the same checks', {
      timeout: 420_000,
    }, async () => {
      await run({ ...short, database: 'pglite', pgServerUrl: '' });
    });
  },
);
