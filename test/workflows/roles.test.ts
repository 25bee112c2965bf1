/**
 * Worker roles on a real Temporal server: a control worker (workflows, decisions, audit, approvals) and an
 * execution worker (tools) on the queue AIRLOCK_TOOL_QUEUES routes to. Every action and compensation runs on the
 * execution worker; the control worker runs none.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { builtinRegistry } from '../../activities';
import { submitJob } from '../../src/jobs/submit';
import { jobStateQuery } from '../../workflows/messages';
import { gitOut, makeRepo } from '../helpers/git';
import { testAirlock, uniqueId, useTemporalServer, workflowBundle } from '../helpers/temporal';

const temporal = useTemporalServer();

test('actions and compensations run on the execution queue, by the execution worker only', async () => {
  const { repo, cleanup } = makeRepo();
  const execQueue = uniqueId('exec');
  const airlock = await testAirlock(temporal.env, {
    config: { AIRLOCK_TOOL_QUEUES: `git=${execQueue},*=${execQueue}` },
  });
  const connection = temporal.env.nativeConnection;
  const control = await airlock.worker({
    connection,
    role: 'control',
    identity: 'control-1',
    workflowBundle: await workflowBundle(),
  });
  const execution = await airlock.worker({ connection, role: 'execution', identity: 'exec-1' });
  expect(execution.options.taskQueue).toBe(execQueue);

  const job = {
    agent: 'release-bot',
    title: 'Bump, then a failing check',
    steps: [
      { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'rel', from: 'main' } },
      {
        id: 'bump',
        action: 'git.commit',
        input: { repo, branch: 'rel', message: 'Bump', files: [{ path: 'VERSION', content: '2\n' }] },
      },
      { id: 'check', action: 'shell.run', input: { argv: ['sh', '-c', 'exit 3'], cwd: '/tmp' } },
    ],
  };
  try {
    const handle = await control.runUntil(
      execution.runUntil(async () => {
        const { handle } = await submitJob(temporal.env.client, job, {
          registry: builtinRegistry(),
          taskQueue: airlock.config.temporal.taskQueue,
          toolQueues: airlock.config.toolQueues,
          requester: 'tester',
          jobId: uniqueId('job'),
        });
        expect(await handle.result().catch((e: unknown) => e)).toBeInstanceOf(WorkflowFailedError);
        expect((await handle.query(jobStateQuery)).compensated).toEqual(['bump', 'branch']);
        return handle;
      }),
    );
    expect(gitOut(repo, 'branch', '--list', 'rel')).toBe('');

    const { events } = await handle.fetchHistory();
    const scheduled = new Map<string, { type: string; queue: string }>();
    const ran: string[] = [];
    for (const e of events!) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(String(e.eventId), { type: s.activityType!.name!, queue: s.taskQueue!.name! });
      const started = e.activityTaskStartedEventAttributes;
      if (started) {
        const { type } = scheduled.get(String(started.scheduledEventId))!;
        ran.push(`${type} on ${started.identity}`);
      }
    }
    expect([...scheduled.values()]).toEqual(
      ['git.create_branch', 'git.commit', 'shell.run', 'git.commit.compensate', 'git.create_branch.compensate'].map(
        (type) => ({ type, queue: execQueue }),
      ),
    );
    expect(ran).toEqual([
      'git.create_branch on exec-1',
      'git.commit on exec-1',
      'shell.run on exec-1',
      'git.commit.compensate on exec-1',
      'git.create_branch.compensate on exec-1',
    ]);
  } finally {
    cleanup();
    await airlock.close();
  }
});
