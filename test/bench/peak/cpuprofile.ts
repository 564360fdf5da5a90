/**
 * Summarises a V8 CPU profile (`--cpu-prof`, e.g. from `npm run bench -- peak --cpu-prof`):
 * self time by function and by file, and the share the process spent idle (waiting on I/O).
 *
 *   npx tsx test/bench/peak/cpuprofile.ts bench-results/prof-postgres-mixed/CPU.*.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export function summarise(profile: CpuProfile, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (const [i, id] of profile.samples.entries())
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const total = profile.endTime - profile.startTime;
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const where = f.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|work\/main)\//, '$1/');
    const key = `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const group = where === '' ? f.functionName : where.replace(/^node_modules\/((@[^/]+\/)?[^/]+).*/, '$1');
    file.set(group, (file.get(group) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const lines = [
    `profile ${(total / 1e6).toFixed(1)} s; idle ${pct(idle)}, busy ${pct(total - idle)}`,
    '',
    'self time by file or package:',
    ...[...file]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `${pct(us)}  ${k}`),
    '',
    'self time by function:',
    ...[...fn]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `${pct(us)}  ${k}`),
  ];
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('cpuprofile.ts')) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' } } });
  for (const path of positionals) {
    console.log(`== ${path}`);
    console.log(summarise(JSON.parse(readFileSync(path, 'utf8')) as CpuProfile, Number(values.top ?? 25)));
  }
}
