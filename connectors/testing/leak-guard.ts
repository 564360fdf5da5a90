/**
 * Leak guard for connector test files: after the file's tests, no server, socket or timer may
 * outlive what existed before them. Servers and sockets close asynchronously, so the check waits
 * a bounded number of event-loop turns (never a sleep) for the counts to settle, then fails
 * listing what is left.
 */
import { afterAll, beforeAll } from 'vitest';

const WATCHED = new Set([
  'TCPServerWrap',
  'TCPSocketWrap',
  'TCPWRAP',
  'Timeout',
  'HTTPCLIENTREQUEST',
  'PipeWrap',
]);

function snapshot(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) {
    if (WATCHED.has(r)) counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  return counts;
}

function excess(baseline: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [k, n] of snapshot()) {
    const extra = n - (baseline.get(k) ?? 0);
    if (extra > 0) out.push(`${extra} x ${k}`);
  }
  return out;
}

/** Call once at the top of a test file. */
export function installLeakGuard(): void {
  let baseline = new Map<string, number>();
  beforeAll(() => {
    baseline = snapshot();
  });
  afterAll(async () => {
    let left = excess(baseline);
    for (let turn = 0; turn < 2000 && left.length > 0; turn++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      left = excess(baseline);
    }
    if (left.length > 0) throw new Error(`leaked after the tests: ${left.join(', ')}`);
  });
}
