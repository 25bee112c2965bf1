/**
 * GitHub idempotency, tested rather than claimed: a worker process is SIGKILLed in the middle of opening the pull
 * request and again in the middle of merging it (GitHub has acted, the worker never heard), new workers finish the
 * job, and there is exactly one pull request, one merge and one approval comment for the round.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { builtinTools, ToolRegistry } from '../../activities';
import type { ToolDefinition } from '../../activities/tool';
import { submitJob } from '../../src/jobs/submit';
import { jobStateQuery } from '../../workflows/messages';
import { pendingRequest, vote } from '../helpers/approvals';
import { attestationKeys } from '../helpers/attestation';
import { startGithubServer, type GithubServer } from '../helpers/github-server';
import { usePostgresDatabase } from '../helpers/postgres';
import { fixture, uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const temporal = useTemporalServer();
// Worker processes share the audit trail and the GitHub rounds (where the request comment is): real PostgreSQL.
const pg = usePostgresDatabase();
const dataDir = mkdtempSync(join(tmpdir(), 'airlock-gh-crash-'));
const TOKEN = `ghp_${randomUUID().replace(/-/g, '')}`;
let gh: GithubServer;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  gh = await startGithubServer({ token: TOKEN });
});
afterAll(async () => {
  await Promise.all(workers.splice(0).map((w) => w.kill()));
  await gh?.close();
});

/** The built-in tools with short timeouts, so a dead worker is noticed in seconds instead of minutes. */
function fastRegistry(): ToolRegistry {
  return new ToolRegistry(builtinTools.map((t): ToolDefinition => ({ ...t, timeouts: { startToCloseMs: 4_000 } })));
}

test('SIGKILL mid-PR and mid-merge: one pull request, one merge at the approved head, one comment for the round', async () => {
  const taskQueue = uniqueId('gh-crash');
  const spawn = (identity: string) =>
    spawnWorker({
      address: temporal.env.connection.options.address,
      taskQueue,
      identity,
      // The GitHub config points at the stand-in, as a production worker's points at GitHub.
      env: {
        AIRLOCK_DATABASE_URL: pg.url,
        AIRLOCK_DATA_DIR: dataDir,
        AIRLOCK_POLICY_FILE: fixture('policy-github.yaml'),
        AIRLOCK_PEOPLE_FILE: fixture('people.yaml'),
        GITHUB_TOKEN: TOKEN,
        AIRLOCK_GITHUB_API_URL: gh.url,
        AIRLOCK_GITHUB_WRITE_INTERVAL_MS: '0',
      },
    });
  // Opening the pull request acts at once and answers after 30 s: the worker is killed in between.
  gh.slowNext({ method: 'POST', path: /\/pulls$/ }, 30_000);
  workers.push(await spawn('worker-1'));
  const branch = 'airlock/crash-1';
  const { handle } = await submitJob(
    temporal.env.client,
    {
      agent: 'release-bot',
      title: 'Ship through crashes',
      steps: [
        { id: 'branch', action: 'github.create_branch', input: { repo: 'acme/app', branch } },
        {
          id: 'commit',
          action: 'github.commit_files',
          input: {
            repo: 'acme/app',
            branch: { $ref: 'steps.branch.output.branch' },
            message: 'Bump version',
            files: [{ path: 'VERSION', content: '3\n' }],
          },
        },
        {
          id: 'pr',
          action: 'github.create_pull_request',
          input: { repo: 'acme/app', head: branch, base: 'main', title: 'Bump' },
        },
        {
          id: 'merge',
          action: 'github.merge_pull_request',
          input: {
            repo: 'acme/app',
            number: { $ref: 'steps.pr.output.number' },
            sha: { $ref: 'steps.commit.output.sha' },
          },
        },
      ],
    } as never,
    { registry: fastRegistry(), taskQueue, requester: 'dave', attestationKeys, jobId: uniqueId('job') },
  );
  const pullsOpened = () => gh.count('POST', '/repos/acme/app/pulls');
  await eventually(() => pullsOpened() === 1, 'the pull request to be opened', 60_000);
  await workers[0].kill();

  workers.push(await spawn('worker-2'));
  const request = await pendingRequest(handle);
  const pr = Number((request.input as { number: number }).number);
  const approvedSha = String((request.input as { sha: string }).sha);
  const roundComments = () => gh.commentsOn(pr).filter((c) => c.body.includes(`<!-- airlock:approval:${request.id}@`));
  await eventually(() => roundComments().length === 1, 'the request comment');

  // The merge acts at once and answers after 30 s: the worker is killed in between.
  gh.slowNext({ method: 'PUT', path: /\/pulls\/\d+\/merge$/ }, 30_000);
  await vote(temporal.env.client, 'alice', request.id, 'approve');
  await eventually(() => gh.pulls.get(pr)?.merged, 'the merge', 60_000);
  await workers[1].kill();

  workers.push(await spawn('worker-3'));
  const result = await handle.result();
  expect(result.status).toBe('succeeded');
  expect(result.outputs.pr).toMatchObject({ number: pr });
  expect(result.outputs.merge).toMatchObject({ merged: true, alreadyMerged: true });

  // Exactly one pull request, one merge (at the approved head), one comment for the round.
  expect(pullsOpened()).toBe(1);
  expect([...gh.pulls.values()].filter((p) => p.head === branch)).toHaveLength(1);
  const merges = gh.calls.filter((c) => c.method === 'PUT' && c.path.endsWith(`/pulls/${pr}/merge`));
  expect(merges).toHaveLength(1);
  expect(merges[0].body.sha).toBe(approvedSha);
  expect(gh.commits.get(gh.refs.get('heads/main')!)!.parents).toEqual([expect.any(String), approvedSha]);
  await eventually(() => roundComments()[0]?.body.includes('Approved'), 'the comment to show the approval');
  expect(roundComments()).toHaveLength(1);
  const state = await handle.query(jobStateQuery);
  expect(state.approvals).toHaveLength(1);
  // The kills landed mid-call: each action's recorded start is its second attempt, on the next worker.
  expect(await lastStart(handle, 'github.create_pull_request')).toEqual({ attempt: 2, identity: 'worker-2' });
  expect(await lastStart(handle, 'github.merge_pull_request')).toEqual({ attempt: 2, identity: 'worker-3' });
}, 240_000);

/** The attempt and worker of an activity type's recorded start (history keeps only the last attempt's). */
async function lastStart(handle: WorkflowHandle, activityType: string) {
  const { events } = await handle.fetchHistory();
  const scheduled = new Map<string, string>();
  let start: { attempt?: number | null; identity?: string | null } | undefined;
  for (const e of events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '');
    const st = e.activityTaskStartedEventAttributes;
    if (st && scheduled.get(String(st.scheduledEventId)) === activityType)
      start = { attempt: st.attempt, identity: st.identity };
  }
  return start;
}
