/**
 * Fault suite: the worker process is SIGKILLed while N jobs wait for approval; votes sent while no worker runs are
 * all applied, once each, by a new worker, and every job merges once. N = 100 (the size); FAULTS_N changes it.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinRegistry } from '../../activities';
import { openDatabase } from '../../src/audit/db';
import { AuditStore } from '../../src/audit/store';
import { submitJob } from '../../src/jobs/submit';
import { jobsQuery } from '../../src/core/jobs-query';
import { JobStatus } from '../../src/core/job';
import { pendingRequest, vote } from '../helpers/approvals';
import { attestationKeys } from '../helpers/attestation';
import { commitOnBranch, gitOut, makeRepo } from '../helpers/git';
import { usePostgresDatabase } from '../helpers/postgres';
import { uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';
import { mergeJob, mergePolicy } from './helpers';

const N = Number(process.env.FAULTS_N ?? 100);
// Measured on 2 shared cores: ~15 s whatever N (two worker starts; the 10 s a dead worker's sticky queue keeps its
// workflows' tasks) and ~0.25 s a job (N = 100: ~40 s). The bound is three times that, so it grows with N.
const BUDGET_MS = 45_000 + N * 750;

/** Resolves with every outcome, or fails naming the jobs whose promise had not settled by `deadline`. */
async function settledBy<T>(what: string, promises: Promise<T>[], jobs: string[], deadline: number) {
  const settled = new Set<number>();
  promises.forEach(
    (p, i) =>
      void p.then(
        () => settled.add(i),
        () => settled.add(i),
      ),
  );
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const stuck = promises.map((_, i) => i).filter((i) => !settled.has(i));
      reject(new Error(`${what}: ${stuck.length} not settled in time, e.g. ${stuck.slice(0, 5).map((i) => jobs[i])}`));
    }, deadline - performance.now());
  });
  try {
    return await Promise.race([Promise.allSettled(promises), late]);
  } finally {
    clearTimeout(timer);
  }
}
const temporal = useTemporalServer();
const pg = usePostgresDatabase();
const { dir, policy } = mergePolicy('airlock-faults-', { allow: ['git.create_branch'] });
const workers: WorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
});

test(
  `worker SIGKILLed while ${N} jobs wait for approval: every vote sent meanwhile is applied once`,
  async () => {
    const t0 = performance.now();
    const timeline: string[] = [];
    const phase = (what: string) => timeline.push(`${what} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const taskQueue = uniqueId('faults');
    const spawnOpts = {
      address: temporal.env.connection.options.address,
      taskQueue,
      env: { AIRLOCK_DATABASE_URL: pg.url, AIRLOCK_DATA_DIR: dir, AIRLOCK_POLICY_FILE: policy },
    };
    workers.push(await spawnWorker({ ...spawnOpts, identity: 'worker-1' }));
    phase('worker-1 ready');
    // One repository per job, each with a branch `topic` one commit ahead of main (so the merge makes a merge
    // commit to count): copies of one, a few file writes each where making one runs five git processes.
    const template = makeRepo();
    const topic = commitOnBranch(template.repo, {
      branch: 'topic',
      from: 'main',
      files: { 'TOPIC.md': 'merged once\n' },
      message: 'Topic',
    });
    const initial = gitOut(template.repo, 'rev-parse', 'main');
    const copies = mkdtempSync(join(tmpdir(), 'airlock-faults-repos-'));
    const repos = Array.from({ length: N }, (_, i) => {
      const repo = join(copies, `app-${i}.git`);
      cpSync(template.repo, repo, { recursive: true });
      return repo;
    });
    try {
      const handles = await Promise.all(
        repos.map(async (repo, i) => {
          const { handle } = await submitJob(
            temporal.env.client,
            mergeJob(`Waiting ${i}`, repo, 'wait', { from: 'topic' }),
            { registry: builtinRegistry(), taskQueue, requester: 'bob', attestationKeys, jobId: uniqueId('job') },
          );
          return handle;
        }),
      );
      phase('submitted');
      // Counted in visibility, one call at a time: every job queried ten times a second (pendingRequest's polling)
      // is a thousand queries a second at N = 100, answered by the very worker that is starting the jobs.
      const awaiting = `${jobsQuery({ status: JobStatus.AwaitingApproval })} AND TaskQueue = '${taskQueue}'`;
      await eventually(
        async () => Number((await temporal.env.client.workflow.count(awaiting)).count) === N,
        `${N} jobs awaiting approval`,
        BUDGET_MS,
      );
      const requests = await Promise.all(handles.map((h) => pendingRequest(h)));
      phase('all awaiting approval');
      await workers[0].kill();
      phase('worker-1 killed');

      // Votes sent while no worker runs: each waits for its update to be accepted or refused.
      const votes = requests.map((r) => vote(temporal.env.client, 'alice', r.id, 'approve'));
      // A second click of the same person on half of them: the same vote, never a second one.
      const repeats = requests.slice(0, N / 2).map((r) => vote(temporal.env.client, 'alice', r.id, 'approve'));
      await new Promise((r) => setTimeout(r, 2_000));

      workers.push(await spawnWorker({ ...spawnOpts, identity: 'worker-2' }));
      phase('worker-2 ready');
      // No vote and no job may hang: each must be answered within the test's bound, or the test names them.
      const deadline = t0 + BUDGET_MS - 5_000;
      const ids = handles.map((h) => h.workflowId);
      const results = await settledBy('votes', [...votes, ...repeats], [...ids, ...ids], deadline);
      phase('votes answered');
      const ended = await settledBy(
        'jobs',
        handles.map((h) => h.result()),
        ids,
        deadline,
      );
      phase('jobs finished');
      console.log(`${N} jobs: ${timeline.join(', ')}`);

      // Each request's vote applied (by whichever of the two clicks came first); the other click is refused with a
      // reason, never lost silently.
      for (let i = 0; i < N; i++) {
        const pair = i < N / 2 ? [results[i], results[N + i]] : [results[i]];
        expect(pair.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of pair) if (r.status === 'rejected') expect(explain(r.reason)).toMatch(/already|ended|closed/i);
      }
      expect(ended.map((o) => (o.status === 'fulfilled' ? o.value.status : String(o.reason)))).toEqual(
        Array(N).fill('succeeded'),
      );
      // Each repository: on main since the initial commit, one commit: the merge of the topic commit.
      for (const repo of repos) {
        const onMain = gitOut(repo, 'rev-list', '--first-parent', '--parents', `${initial}..main`).split('\n');
        expect(onMain.map((line) => line.split(' ').slice(1).join(' '))).toEqual([`${initial} ${topic}`]);
      }
      // The workers' trail (their database): one vote event per job, each action finished once.
      const trail = await AuditStore.open(openDatabase(pg.url));
      try {
        for (const h of handles) {
          const events = await trail.events(h.workflowId);
          expect(events.filter((e) => e.type === 'approval.vote').map((e) => e.actor)).toEqual(['alice']);
          expect(events.filter((e) => e.type === 'action.finished').map((e) => e.key)).toEqual([
            'action.finished:branch',
            'action.finished:merge',
          ]);
        }
      } finally {
        await trail.db.close();
      }
    } finally {
      template.cleanup();
      rmSync(copies, { recursive: true, force: true });
    }
  },
  BUDGET_MS,
);

/** An error and its causes (type and message each), so an unexpected refusal says what answered it. */
function explain(err: unknown): string {
  const parts: string[] = [];
  for (let e = err; e instanceof Error; e = (e as { cause?: unknown }).cause)
    parts.push(`${(e as { type?: string }).type ?? e.name}: ${e.message}`);
  return parts.join(' <- ') || String(err);
}
