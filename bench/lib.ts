/** Statistics, the results table and the JSON results for `npm run bench`. */
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Summary {
  n: number;
  median: number;
  p99: number;
  min: number;
  max: number;
}

export function summarize(samples: number[]): Summary {
  if (!samples.length) throw new Error('no samples: the benchmark measured nothing');
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { n: s.length, median: at(0.5), p99: at(0.99), min: s[0], max: s[s.length - 1] };
}

export interface Row {
  figure: string;
  airlock: string;
  baseline: string;
  ratio: string;
  target: string;
  met: boolean | null;
}

export const rows: Row[] = [];
export const results: Record<string, unknown> = {};

export function record(name: string, data: unknown, row?: Row) {
  results[name] = data;
  if (row) rows.push(row);
}

/** Fails the benchmark loudly: a correctness check inside it did not hold. */
export function check(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`benchmark check failed: ${what}`);
}

export function printTable() {
  const cols: (keyof Row)[] = ['figure', 'airlock', 'baseline', 'ratio', 'target', 'met'];
  const cell = (r: Row, c: keyof Row) => (c === 'met' ? (r.met === null ? '—' : r.met ? 'yes' : 'NO') : String(r[c]));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join(' | ');
  console.log(line(cols));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(cols.map((c) => cell(r, c))));
}

/** Writes a timestamped results file, and latest.json when the run was complete. */
export function writeResults(dir: string, meta: Record<string, unknown>, complete: boolean) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ meta, rows, results }, null, 2));
  if (complete) writeFileSync(join(dir, 'latest.json'), JSON.stringify({ meta, rows, results }, null, 2));
  return file;
}

export const ms = (n: number) => `${n.toFixed(1)} ms`;
export const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** CPU seconds used so far by this process (worker and client), the Temporal server and PostgreSQL, from /proc. */
export interface CpuSnapshot {
  bench: number;
  temporal: number;
  postgres: number;
}

export function cpuSnapshot(): CpuSnapshot | undefined {
  let dirs: string[];
  try {
    dirs = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined; // not Linux: the figure is left out
  }
  const snap: CpuSnapshot = { bench: 0, temporal: 0, postgres: 0 };
  for (const pid of dirs) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks
    if (Number(pid) === process.pid) snap.bench += seconds;
    else if (comm === 'temporal' || comm === 'temporal-server') snap.temporal += seconds;
    else if (comm.startsWith('postgres')) snap.postgres += seconds;
  }
  return snap;
}

/** Milliseconds of CPU per unit of work between two snapshots. */
export function cpuPer(before: CpuSnapshot | undefined, after: CpuSnapshot | undefined, units: number) {
  if (!before || !after) return undefined;
  const per = (k: keyof CpuSnapshot) => ((after[k] - before[k]) * 1000) / units;
  return { bench: per('bench'), temporal: per('temporal'), postgres: per('postgres') };
}
