// `npm run chaos [-- options]`: the chaos run (see driver.ts for what it does, checks.ts for what
// it checks). Prints a table, writes bench-results/chaos.json, exits 1 on any violation.
//
//   --duration S      seconds of intake with faults and kills (default 120; runs on until --kills)
//   --kills N         SIGKILLs of the daemon, at least (default 20)
//   --rate R          operations per second over the three shops (default 8)
//   --db postgres|pglite          (default postgres)
//   --pg-url URL      PostgreSQL server whose database may create others
//                     (default CHAOS_DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres)
//   --pg-restart / --no-pg-restart   restart PostgreSQL once half-way (default on)
//   --pg-cluster V/NAME   the Debian cluster to restart (default: the one on --pg-url's port)
//   --own-cluster     create a throw-away cluster (pg_createcluster, free port, trust auth) for the
//                     run and drop it afterwards, so the restart disturbs nobody (needs root)
//   --seed N          (default: random, printed)
//   --converge S      longest wait for convergence (default 240)
//   --no-faults       no API faults
//   --keep            keep the database and the temp folder (daemon log, config)
//   --log-level L     the daemon's LOG_LEVEL (default warn)
//   --trace FILE      JSON lines: platform quantity changes and the driver's operations, timed
//   --out FILE        (default bench-results/chaos.json)
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { type ChaosReport, runChaos } from './driver.js';
import { type Cluster, clusterByName, createOwnCluster } from './postgres.js';
import { formatReport } from './report.js';

const args = parseArgs({
  options: {
    duration: { type: 'string', default: '120' },
    kills: { type: 'string', default: '20' },
    rate: { type: 'string', default: '8' },
    db: { type: 'string', default: 'postgres' },
    'pg-url': { type: 'string' },
    'pg-restart': { type: 'boolean', default: true },
    'no-pg-restart': { type: 'boolean', default: false },
    'pg-cluster': { type: 'string' },
    'own-cluster': { type: 'boolean', default: false },
    seed: { type: 'string' },
    converge: { type: 'string', default: '240' },
    'no-faults': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'warn' },
    trace: { type: 'string' },
    out: { type: 'string', default: 'bench-results/chaos.json' },
  },
});
const v = args.values;
const num = (name: string, raw: string | undefined, min: number): number => {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) {
    console.error(`chaos: --${name} must be a number >= ${min}; got ${raw}`);
    process.exit(2);
  }
  return n;
};
if (v.db !== 'postgres' && v.db !== 'pglite') {
  console.error(`chaos: --db must be postgres or pglite; got ${v.db}`);
  process.exit(2);
}

let pgServerUrl =
  v['pg-url'] ?? process.env.CHAOS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
let pgCluster: Cluster | undefined;
let dropCluster: (() => Promise<void>) | undefined;
if (v['own-cluster'] && v.db === 'postgres') {
  const own = await createOwnCluster();
  console.log(`own PostgreSQL cluster ${own.version}/${own.name} on port ${own.port}`);
  pgServerUrl = own.url;
  pgCluster = own;
  dropCluster = own.drop;
} else if (v['pg-cluster']) {
  pgCluster = await clusterByName(v['pg-cluster']);
  const u = new URL(pgServerUrl);
  u.port = String(pgCluster.port);
  pgServerUrl = u.toString();
}

const seed = v.seed === undefined ? Math.floor(Math.random() * 1_000_000) + 1 : num('seed', v.seed, 1);
const started = Date.now();
let report: ChaosReport;
try {
  report = await runChaos({
    durationS: num('duration', v.duration, 5),
    kills: num('kills', v.kills, 0),
    rate: num('rate', v.rate, 0.1),
    database: v.db,
    pgServerUrl,
    pgRestart: v['pg-restart'] && !v['no-pg-restart'],
    ...(pgCluster ? { pgCluster } : {}),
    seed,
    convergeTimeoutS: num('converge', v.converge, 10),
    faults: !v['no-faults'],
    keep: v.keep,
    logLevel: v['log-level'],
    ...(v.trace ? { traceFile: v.trace } : {}),
    log: (line) => console.log(`[chaos ${Math.round((Date.now() - started) / 1000)}s] ${line}`),
  });
} catch (err) {
  console.error('chaos: the run itself failed:', err);
  await dropCluster?.().catch(() => {});
  process.exit(1);
}
await dropCluster?.().catch((err: unknown) =>
  console.error(`could not drop the cluster: ${(err as Error).message}`),
);

console.log(formatReport(report));
mkdirSync(dirname(v.out), { recursive: true });
writeFileSync(v.out, `${JSON.stringify(report, null, 2)}\n`);
console.log(`report: ${v.out}${report.ok ? '' : `; daemon log kept: ${report.logFile}`}`);
process.exit(report.ok ? 0 : 1);
