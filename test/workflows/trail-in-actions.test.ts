/**
 * Jobs of generation 2 (GENERATION_2, workflows/context.ts): the job's own actions open and close its audit trail, on a real dev
 * server and PostgreSQL. The trail reads as it always did (submitted first, the end last, the head signed); the
 * history holds no local activity and one patch marker; a job that ends before any action closes the trail with its
 * submission; and an end the job never heard of is corrected beside the sealed trail.
 */
import { randomUUID } from 'node:crypto';
import { builtinRegistry } from '../../activities';
import { failingForGood } from '../../activities/audit-sink';
import { createJobActivities } from '../../activities/job';
import { besideSealedTrail } from '../../src/core/audit';
import { JobStatus, finishedEvent, submittedEvent, type JobOutcome } from '../../src/core/job';
import { planJob } from '../../src/jobs/plan';
import { submitJob } from '../../src/jobs/submit';
import { jobStateQuery } from '../../workflows/messages';
import { bumpVersionJob, makeRepo } from '../helpers/git';
import { testWorker, uniqueId, useTemporalServer } from '../helpers/temporal';

const temporal = useTemporalServer();
const registry = builtinRegistry();

test('a job that succeeds: its actions open and close the trail; no local activity, one patch marker', async () => {
  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await testWorker(temporal.env);
  try {
    await worker.runUntil(async () => {
      const { handle, jobId } = await submitJob(temporal.env.client, bumpVersionJob(repo), {
        registry,
        taskQueue,
        requester: 'tester',
        jobId: uniqueId('job'),
      });
      expect(await handle.result()).toMatchObject({ status: 'succeeded' });
      const state = await handle.query(jobStateQuery);

      const trail = await temporal.audit().events(jobId);
      expect(trail.map((e) => e.type)).toEqual([
        'job.submitted',
        'policy.decision',
        'action.started',
        'action.finished',
        'policy.decision',
        'action.started',
        'action.finished',
        'job.finished',
      ]);
      expect(trail[0]).toMatchObject({ key: 'submitted', actor: 'tester', data: { title: 'Bump version' } });
      // The end as the job's state says it: the same time, what was spent.
      expect(trail.at(-1)!.data).toEqual({
        jobId,
        agent: 'release-bot',
        status: 'succeeded',
        compensated: [],
        spent: state.spent,
        startedAt: state.startedAt,
        endedAt: state.endedAt,
      });
      expect(state.spent.actions).toBe(2);
      expect(await temporal.audit().verify(jobId)).toMatchObject({ ok: true, events: 8, signed: true });

      const events = (await handle.fetchHistory()).events ?? [];
      // One marker: the generation-2 patch's (no local activity, no older patch).
      const markers = events.filter((e) => e.markerRecordedEventAttributes).map((e) => e.markerRecordedEventAttributes);
      expect(markers).toHaveLength(1);
      expect(markers[0]?.markerName).toBe('core_patch');
      expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(2);
    });
  } finally {
    cleanup();
  }
});

test('a job cancelled before its first action: the trail holds its submission and its end, signed', async () => {
  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await testWorker(temporal.env);
  try {
    const jobId = uniqueId('job');
    const plan = planJob(bumpVersionJob(repo), registry, 'tester');
    // Cancelled before its first workflow task: the first action is never scheduled.
    const handle = await temporal.env.client.workflow.start('jobWorkflow', {
      workflowId: jobId,
      taskQueue,
      args: [plan],
      startDelay: '2s',
    });
    await handle.cancel();
    await worker.runUntil(async () => {
      await expect(handle.result()).rejects.toThrow();
    });
    const trail = await temporal.audit().events(jobId);
    expect(trail.map((e) => [e.type, e.data.status])).toEqual([
      ['job.submitted', undefined],
      ['job.finished', 'cancelled'],
    ]);
    expect(await temporal.audit().verify(jobId)).toMatchObject({ ok: true, events: 2, signed: true });
    const events = (await handle.fetchHistory()).events ?? [];
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toEqual([]);
  } finally {
    cleanup();
  }
});

test('an end the job never heard of: the trail its last action sealed stays, the end it reached is kept beside', async () => {
  // As the worker wraps its sink (src/worker.ts, src/compose.ts).
  const audit = failingForGood(besideSealedTrail(temporal.audit()));
  const { 'job.finished': finished } = createJobActivities({ audit, outbound: { allowedHosts: [] } });
  const jobId = `job-${randomUUID()}`;
  const plan = planJob(bumpVersionJob('/tmp/none'), registry, 'tester');
  const base: Omit<JobOutcome, 'status' | 'endedAt'> = {
    jobId,
    agent: plan.agent,
    compensated: [],
    spent: { actions: 2, cost: 0 },
    startedAt: new Date().toISOString(),
  };
  // The last action closed the trail as it succeeded (its completion then lost: the activity timed out).
  await temporal.audit().append(submittedEvent(jobId, plan));
  const sealed = { ...base, status: JobStatus.Succeeded, endedAt: new Date().toISOString() };
  await temporal.audit().appendAll([finishedEvent(sealed)], { seal: true });
  // The job compensated and failed; finishing says so.
  const actual = { ...base, status: JobStatus.Failed, endedAt: new Date().toISOString() };
  await finished(actual, undefined, submittedEvent(jobId, plan));
  expect((await temporal.audit().events(jobId)).map((e) => [e.type, e.data.status])).toEqual([
    ['job.submitted', undefined],
    ['job.finished', 'succeeded'],
  ]);
  expect(await temporal.audit().verify(jobId)).toMatchObject({ ok: true, signed: true });
  expect(await temporal.audit().outsideTrail(jobId)).toEqual([
    expect.objectContaining({ key: 'finished:actual', type: 'job.finished', data: actual }),
  ]);
  // Finishing again (a retry) records nothing more.
  await finished(actual, undefined, submittedEvent(jobId, plan));
  expect(await temporal.audit().outsideTrail(jobId)).toHaveLength(1);
});
