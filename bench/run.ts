/**
 * `npm run bench`: what governance costs, side by side with bare Temporal on the same dev server and worker settings.
 * Runs the figures (bench/figures/, sharing bench/harness.ts) in order, prints a table and writes bench/results/*.json.
 * Sizes come from BENCH_* variables (bench/harness.ts); BENCH_ONLY=1,4 runs some of them, and only a full run writes
 * latest.json. A correctness check that fails (a job not completed, a duplicate not deduplicated) fails the run.
 */
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { governanceOverhead } from './figures/1-overhead';
import { approvalRoundTrip } from './figures/2-approval';
import { manyWaiting } from './figures/3-waiting';
import { apiSubmissions } from './figures/4-api';
import { policyEvaluation } from './figures/5-policy';
import { mcpLatency } from './figures/6-mcp';
import { type Harness, ONLY, openHarness, SERVERS, SIZE, TUNING, want } from './harness';
import { printTable, writeResults } from './lib';

/**
 * The figures in the order they run (which BENCH_ONLY names select each): the policy in-process first, then those on
 * the shared dev server, then figures 1 and 4 on the cluster (the dev server stopped first, so it does not share the
 * cores), then figure 3 on servers of its own. Figures 2, 5 and 6 run on the dev server only.
 */
type Figure = [selectedBy: string[], run: (h: Harness) => Promise<void>];
const onDev = SERVERS.servers.includes('dev');
const onCluster = SERVERS.servers.includes('cluster');
const when = (yes: boolean, ...figures: Figure[]): Figure[] => (yes ? figures : []);
const FIGURES: Figure[] = [
  [['5'], policyEvaluation],
  ...when(onDev, [['1', 'pragmas'], (h) => governanceOverhead(h, 'dev')]),
  [['2'], approvalRoundTrip],
  ...when(onDev, [['4'], (h) => apiSubmissions(h, 'dev')]),
  [['6'], mcpLatency],
  ...when(
    onCluster,
    [['1'], (h) => h.stopStack().then(() => governanceOverhead(h, 'cluster'))],
    [['4'], (h) => apiSubmissions(h, 'cluster')],
  ),
  ...when(onDev, [['3'], (h) => manyWaiting(h, 'dev')]),
  ...when(onCluster, [['3'], (h) => manyWaiting(h, 'cluster')]),
];

async function main() {
  const h = await openHarness();
  try {
    for (const [selectedBy, run] of FIGURES) if (selectedBy.some(want)) await run(h);
  } finally {
    await h.close();
  }
  console.log('');
  printTable();
  const file = writeResults(
    join(__dirname, 'results'),
    {
      at: new Date().toISOString(),
      cores: cpus().length,
      cpu: cpus()[0]?.model,
      memGiB: totalmem() / 2 ** 30,
      servers: SERVERS.servers,
      sizes: SIZE,
      tuning: TUNING,
      only: ONLY ?? 'all',
    },
    !ONLY,
  );
  console.log(`\nresults: ${file}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
