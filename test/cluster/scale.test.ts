/**
 * Horizontal scale on the cluster, with separate OS processes as in production: one control worker
 * (`airlock worker --role control`) and two execution workers (`--role execution`). Jobs spread across the
 * execution workers; an execution worker SIGKILLed mid-action leaves the action to the other, done once; a control
 * worker SIGKILLed while a job waits for approval loses nothing.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { builtinTools, ToolRegistry } from '../../activities';
import type { ToolDefinition } from '../../activities/tool';
import { submitJob } from '../../src/jobs/submit';
import { pendingRequest, vote } from '../helpers/approvals';
import { attestationKeys } from '../helpers/attestation';
import { gitOut, makeRepo } from '../helpers/git';
import { usePostgresDatabase } from '../helpers/postgres';
import { fixture, uniqueId } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';
import { clusterAddress, useCluster } from './cluster';

const cluster = useCluster();
// The worker processes share one audit trail: a real PostgreSQL database.
const pg = usePostgresDatabase();
const dataDir = mkdtempSync(join(tmpdir(), 'airlock-scale-'));
/** The operator's git hooks for the workers (a repository's own hooks never run). */
const hooksDir = join(dataDir, 'hooks');
mkdirSync(hooksDir);
const workers: WorkerProcess[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.kill()));
});

/** The built-in tools with short timeouts, so a dead worker is noticed in seconds (the plan carries them). */
const fastRegistry = new ToolRegistry(
  builtinTools.map((t): ToolDefinition => ({
    ...t,
    timeouts: { startToCloseMs: 4_000, heartbeatMs: t.timeouts?.heartbeatMs ? 2_000 : undefined },
  })),
);

/** One control worker and two execution workers, each its own process, on fresh queues. */
async function topology() {
  const taskQueue = uniqueId('control');
  const execQueue = uniqueId('exec');
  const toolQueues = { '*': execQueue };
  const spawn = (identity: string, role: string) =>
    spawnWorker({
      address: clusterAddress(),
      taskQueue,
      identity,
      args: ['--role', role],
      env: {
        AIRLOCK_TOOL_QUEUES: `*=${execQueue}`,
        AIRLOCK_DATABASE_URL: pg.url,
        AIRLOCK_DATA_DIR: dataDir,
        AIRLOCK_POLICY_FILE: fixture('policy-approvals.yaml'),
        AIRLOCK_PEOPLE_FILE: fixture('people.yaml'),
        AIRLOCK_GIT_HOOKS_PATH: hooksDir,
      },
    }).then((w) => (workers.push(w), w));
  const [control, exec1, exec2] = await Promise.all([
    spawn('control-1', 'control'),
    spawn('exec-1', 'execution'),
    spawn('exec-2', 'execution'),
  ]);
  const submit = (job: object) =>
    submitJob(cluster.env.client, job, {
      registry: fastRegistry,
      taskQueue,
      toolQueues,
      requester: 'erin',
      jobId: uniqueId('job'),
      attestationKeys,
    });
  return { control, exec: { 'exec-1': exec1, 'exec-2': exec2 }, spawn, submit };
}

/** Activity type, attempt and worker identity of each activity start in a job's history. */
async function starts(handle: WorkflowHandle) {
  const { events } = await handle.fetchHistory();
  const scheduled = new Map<string, string>();
  const out: { type: string; attempt: number; identity: string }[] = [];
  for (const e of events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), s.activityType!.name!);
    const st = e.activityTaskStartedEventAttributes;
    if (st)
      out.push({ type: scheduled.get(String(st.scheduledEventId))!, attempt: st.attempt!, identity: st.identity! });
  }
  return out;
}

test('jobs spread across the two execution workers; the control worker runs no tool', async () => {
  const { repo, cleanup } = makeRepo();
  const { submit } = await topology();
  const seen = new Set<string>();
  try {
    // Which poller gets a task is the server's choice: submit batches until both have worked (or give up).
    for (let batch = 0; batch < 5 && seen.size < 2; batch++) {
      const jobs = await Promise.all(
        [1, 2, 3, 4].map((i) =>
          submit({
            agent: 'release-bot',
            title: `branch ${batch}.${i}`,
            steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch: `b${batch}-${i}` } }],
          }),
        ),
      );
      for (const { handle } of jobs) {
        expect((await handle.result()).status).toBe('succeeded');
        for (const s of await starts(handle)) seen.add(s.identity);
      }
    }
    expect([...seen].sort()).toEqual(['exec-1', 'exec-2']);
  } finally {
    cleanup();
  }
});

test('an execution worker SIGKILLed mid-action: the other finishes the action, and it happened once', async () => {
  const { repo, cleanup } = makeRepo();
  const armed = `${repo}.armed`;
  const reached = `${repo}.reached`;
  // git runs reference-transaction after the ref moved and waits for it: the commit is done, the activity not.
  // Repository hooks never run; the workers run this one as an operator hook (AIRLOCK_GIT_HOOKS_PATH).
  const hook = join(hooksDir, 'reference-transaction');
  writeFileSync(
    hook,
    `#!/bin/sh
[ "$1" = committed ] || exit 0
grep -q '^0\\{40\\} ' && exit 0
[ -f '${armed}' ] || exit 0
rm -f '${armed}'
touch '${reached}'
sleep 30
`,
  );
  chmodSync(hook, 0o755);
  writeFileSync(armed, '');
  try {
    const { exec, submit } = await topology();
    const { handle, jobId } = await submit({
      agent: 'release-bot',
      title: 'Commit once',
      steps: [
        { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'once', from: 'main' } },
        {
          id: 'commit',
          action: 'git.commit',
          input: { repo, branch: 'once', message: 'Add file', files: [{ path: 'a.txt', content: 'a\n' }] },
        },
      ],
    });
    await eventually(() => existsSync(reached), 'the commit to land in the ref');
    // The worker running the commit, as the server knows it.
    const running = await eventually(async () => {
      const d = await handle.describe();
      return d.raw.pendingActivities?.[0]?.lastWorkerIdentity as 'exec-1' | 'exec-2' | undefined;
    }, 'the pending commit to name its worker');
    const other = running === 'exec-1' ? 'exec-2' : 'exec-1';
    await exec[running].kill();

    const result = await handle.result();
    expect(result.outputs.commit).toMatchObject({ branch: 'once', created: false });
    const keyed = gitOut(repo, 'log', '--format=%H', `--grep=Airlock-Idempotency-Key: ${jobId}/commit`, 'once')
      .split('\n')
      .filter(Boolean);
    expect(keyed).toHaveLength(1);
    expect(gitOut(repo, 'rev-list', '--count', 'main..once')).toBe('1');
    // History keeps the last attempt's start: attempt 2, on the surviving worker.
    expect((await starts(handle)).filter((s) => s.type === 'git.commit')).toEqual([
      { type: 'git.commit', attempt: 2, identity: other },
    ]);
  } finally {
    rmSync(armed, { force: true });
    rmSync(reached, { force: true });
    cleanup();
  }
});

test('the control worker SIGKILLed while a job waits for approval: a new one picks it up, no vote lost', async () => {
  const { repo, cleanup } = makeRepo();
  try {
    const { control, spawn, submit } = await topology();
    const { handle } = await submit({
      agent: 'release-bot',
      title: 'Ship',
      steps: [
        { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'rel', from: 'main' } },
        {
          id: 'bump',
          action: 'git.commit',
          input: { repo, branch: 'rel', message: 'Bump', files: [{ path: 'VERSION', content: '3\n' }] },
        },
        { id: 'merge', action: 'git.merge', input: { repo, source: 'rel', target: 'main' } },
      ],
    });
    const request = await pendingRequest(handle);
    expect(await vote(cluster.env.client, 'alice', request.id, 'approve')).toMatchObject({ status: 'pending' });
    await control.kill();

    await spawn('control-2', 'control');
    expect(await vote(cluster.env.client, 'bob', request.id, 'approve')).toMatchObject({ status: 'approved' });
    expect((await handle.result()).status).toBe('succeeded');
    expect(gitOut(repo, 'show', 'main:VERSION')).toBe('3');
    // Tools ran on the execution workers (the merge twice: asked, then approved); the approval channels on the control
    // workers, the last update on the one started after the kill.
    const started = await starts(handle);
    const tools = started.filter((s) => s.type.startsWith('git.'));
    expect(tools.map((s) => s.type)).toEqual(['git.create_branch', 'git.commit', 'git.merge', 'git.merge']);
    expect(tools.every((s) => s.identity.startsWith('exec-'))).toBe(true);
    // Channels are told by the job's notifier workflow (faults-v1), on the control workers too.
    const notifier = cluster.env.client.workflow.getHandle(`${handle.workflowId}:notify`);
    await notifier.result();
    const channels = (await starts(notifier)).filter((s) => s.type.startsWith('approvals.'));
    expect(channels.length).toBeGreaterThan(0);
    expect(channels.every((s) => s.identity.startsWith('control-'))).toBe(true);
    expect(channels.at(-1)!.identity).toBe('control-2');
  } finally {
    cleanup();
  }
});
