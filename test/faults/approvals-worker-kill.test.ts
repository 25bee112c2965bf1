/**
 * Fault suite: the worker process is SIGKILLed while N jobs wait for approval; votes sent while no worker runs are
 * all applied, once each, by a new worker. N = 20 in CI (2 cores shared with the rest of the run); FAULTS_N raises it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinRegistry } from '../../activities';
import { openDatabase } from '../../src/audit/db';
import { AuditStore } from '../../src/audit/store';
import { submitJob } from '../../src/jobs/submit';
import { pendingRequest, vote } from '../helpers/approvals';
import { attestationKeys } from '../helpers/attestation';
import { makeRepo } from '../helpers/git';
import { usePostgresDatabase } from '../helpers/postgres';
import { uniqueId, useTemporalServer } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const N = Number(process.env.FAULTS_N ?? 20);
const temporal = useTemporalServer();
const pg = usePostgresDatabase();
const dir = mkdtempSync(join(tmpdir(), 'airlock-faults-'));
const policy = join(dir, 'policy.yaml');
writeFileSync(
  policy,
  `version: 1
rules:
  - id: merge-needs-an-sre
    match: { action: git.merge }
    decision: require_approval
    approval: { groups: [sre], quorum: 1, timeout: 1h, channels: [api] }
  - id: everyday
    match: { action: git.create_branch }
    decision: allow
`,
);
const workers: WorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
});

test(`worker SIGKILLed while ${N} jobs wait for approval: every vote sent meanwhile is applied once`, async () => {
  const taskQueue = uniqueId('faults');
  const spawnOpts = {
    address: temporal.env.connection.options.address,
    taskQueue,
    env: { AIRLOCK_DATABASE_URL: pg.url, AIRLOCK_DATA_DIR: dir, AIRLOCK_POLICY_FILE: policy },
  };
  workers.push(await spawnWorker({ ...spawnOpts, identity: 'worker-1' }));
  const repos = Array.from({ length: N }, () => makeRepo());
  try {
    const handles = await Promise.all(
      repos.map(async ({ repo }, i) => {
        const { handle } = await submitJob(
          temporal.env.client,
          {
            agent: 'release-bot',
            title: `Waiting ${i}`,
            steps: [
              { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'wait' } },
              { id: 'merge', action: 'git.merge', input: { repo, source: 'wait', target: 'main' } },
            ],
          },
          { registry: builtinRegistry(), taskQueue, requester: 'bob', attestationKeys, jobId: uniqueId('job') },
        );
        return handle;
      }),
    );
    const requests = await Promise.all(handles.map((h) => pendingRequest(h)));
    await workers[0].kill();

    // Votes sent while no worker runs: each waits for its update to be accepted or refused.
    const votes = requests.map((r) => vote(temporal.env.client, 'alice', r.id, 'approve'));
    // A second click of the same person on half of them: the same vote, never a second one.
    const repeats = requests.slice(0, N / 2).map((r) => vote(temporal.env.client, 'alice', r.id, 'approve'));
    await new Promise((r) => setTimeout(r, 2_000));

    const started = performance.now();
    workers.push(await spawnWorker({ ...spawnOpts, identity: 'worker-2' }));
    const results = await Promise.allSettled([...votes, ...repeats]);
    const outcomes = await Promise.all(handles.map((h) => h.result()));
    console.log(`${N} jobs: every job finished ${(performance.now() - started).toFixed(0)} ms after the new worker`);

    // Each request's vote applied (by whichever of the two clicks came first); the other click is refused with a
    // reason, never lost silently.
    for (let i = 0; i < N; i++) {
      const pair = i < N / 2 ? [results[i], results[N + i]] : [results[i]];
      expect(pair.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of pair) if (r.status === 'rejected') expect(String(r.reason)).toMatch(/already|ended|closed/i);
    }
    expect(outcomes.map((o) => o.status)).toEqual(Array(N).fill('succeeded'));
    // The workers' trail (their database): one vote event per job.
    const trail = await AuditStore.open(openDatabase(pg.url));
    try {
      for (const h of handles) {
        const events = await trail.events(h.workflowId);
        expect(events.filter((e) => e.type === 'approval.vote').map((e) => e.actor)).toEqual(['alice']);
      }
    } finally {
      await trail.db.close();
    }
  } finally {
    for (const r of repos) r.cleanup();
  }
});
