import type { ChaosReport } from './driver.js';

/** The chaos report as a plain-text table for the terminal. */
export function formatReport(r: ChaosReport): string {
  const rows: [string, string][] = [];
  const add = (k: string, v: string | number) => rows.push([k, String(v)]);
  const d = r.daemon;
  add('database', `${r.options.database} (seed ${r.options.seed})`);
  add('time', `setup ${r.timings.setupS} s, chaos ${r.timings.chaosS} s, total ${r.timings.totalS} s`);
  add(
    'time to converge',
    `every order in with its final status after ${r.timings.ordersInS ?? 'NOT'} s; ` +
      `every platform showing the ledger's quantity after ${r.timings.convergeS ?? `NOT (within ${r.options.convergeTimeoutS} s)`}`,
  );
  add('daemon kills (SIGKILL)', `${d.kills} (${d.killsWhileStarting} while starting)`);
  add('daemon starts', `${d.starts} (start to ready p50 ${d.startMs.p50} ms, max ${d.startMs.max} ms)`);
  add(
    'daemon exits by itself',
    d.unexpectedExits.length === 0
      ? 'none'
      : d.unexpectedExits
          .map(
            (e) =>
              `${`${e.atS}s code ${e.code} ${e.signal ?? ''}`.trim()}${e.lastError ? ` (${e.lastError})` : ''}`,
          )
          .join('; '),
  );
  add(
    'PostgreSQL restart',
    r.pgRestart
      ? `${r.pgRestart.cluster} at ${r.pgRestart.atS} s, took ${r.pgRestart.tookMs} ms; daemon ${
          r.pgRestart.daemonSurvived
            ? 'survived'
            : `exited (${r.pgRestart.daemonExits.map((e) => `code ${e.code}`).join(', ')}) and was restarted by the driver`
        }`
      : 'no',
  );
  add(
    'API faults injected',
    Object.entries(r.faults.injected)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', '),
  );
  const w = r.webhooks;
  add(
    'webhooks sent by sandboxes',
    `${w.sent} (${w.passThrough} one-shot, ${w.passThroughFailed} of them refused/lost)`,
  );
  add('webhooks duplicated', `${w.duplicated} extra copies`);
  add('webhooks reordered', `${w.reordered} cancel-before-paid pairs`);
  add('webhooks redelivered', `${w.redelivered} held and redelivered (${w.redeliveryGaveUp} gave up)`);
  add(
    'bad webhooks',
    `${w.bad.sent} sent, ${w.bad.refused} refused: ${Object.entries(w.bad.byKind)
      .map(
        ([k, s]) =>
          `${k} ${Object.entries(s)
            .map(([st, n]) => `${n}x${st}`)
            .join('/')}`,
      )
      .join(', ')}`,
  );
  add(
    'orders',
    `${r.orders.total} on the platforms (${Object.entries(r.orders.perShop)
      .map(([s, o]) => `${s} ${o.onPlatform}, ${o.cancelledByDriver} cancelled by the driver`)
      .join('; ')})`,
  );
  add('orders only by pull', `${r.orders.announcementLost} (every webhook of theirs refused or lost)`);
  add(
    'inbox',
    Object.entries(r.inbox)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  );
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  lines.push('', 'checks:');
  for (const c of r.checks) {
    lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
    for (const v of c.violations.slice(0, 10)) lines.push(`         - ${v}`);
    if (c.violations.length > 10)
      lines.push(`         ... ${c.violations.length - 10} more (see the JSON report)`);
  }
  lines.push('', r.ok ? 'CHAOS RUN PASSED' : `CHAOS RUN FAILED: ${r.violations} violation(s)`);
  return lines.join('\n');
}
