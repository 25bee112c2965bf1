/**
 * Policy decisions and human approvals on the real Temporal dev server: quorum, refused votes, rejection, denial,
 * budgets, freeze, and a policy edited while a job waits.
 */
import { copyFileSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { builtinRegistry } from '../../activities';
import { ApprovalRefusedError } from '../../approvals/deliver';
import { JobFrozenError } from '../../src/freeze';
import { submitJob } from '../../src/jobs/submit';
import { PolicyStore } from '../../src/policy/store';
import { jobStateQuery } from '../../workflows/messages';
import { gitOk, gitOut, makeRepo } from '../helpers/git';
import { fixture, testWorker, uniqueId, workflowBundle, useTemporalServer } from '../helpers/temporal';
import { pendingRequest, recordingChannel, vote, waitForState } from '../helpers/approvals';
import { attestationKeys } from '../helpers/attestation';
import { eventually } from '../helpers/wait';

const temporal = useTemporalServer();

const registry = builtinRegistry();
let repo: string;
let cleanup: () => void;
beforeEach(() => {
  ({ repo, cleanup } = makeRepo());
});
afterEach(() => cleanup?.());

const shipJob = (r: string, extra: object = {}) => ({
  agent: 'release-bot',
  title: 'Ship 1.2.3',
  context: { repo: 'production-infra' },
  steps: [
    { id: 'branch', action: 'git.create_branch', input: { repo: r, branch: 'rel', from: 'main' } },
    {
      id: 'bump',
      action: 'git.commit',
      input: { repo: r, branch: 'rel', message: 'Bump', files: [{ path: 'VERSION', content: '1.2.3\n' }] },
    },
    { id: 'merge', action: 'git.merge', input: { repo: r, source: 'rel', target: 'main' } },
  ],
  ...extra,
});

async function failureOf(handle: { result: () => Promise<unknown> }) {
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return (err as WorkflowFailedError).cause as ApplicationFailure;
}

async function refusal(p: Promise<unknown>) {
  const err = await p.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApprovalRefusedError);
  return err as ApprovalRefusedError;
}

test('quorum of two: a second vote by the same SRE and a developer are refused; a second SRE completes it', async () => {
  const rec = recordingChannel();
  const { worker, taskQueue } = await testWorker(temporal.env, {
    policy: fixture('policy-approvals.yaml'),
    channels: [rec.channel],
  });
  await worker.runUntil(async () => {
    const { handle, jobId } = await submitJob(temporal.env.client, shipJob(repo), {
      registry,
      taskQueue,
      requester: 'erin',
      attestationKeys,
      jobId: uniqueId('job'),
    });
    const request = await pendingRequest(handle);
    expect(request).toMatchObject({
      id: `${jobId}:merge`,
      action: 'git.merge',
      ruleId: 'merge-needs-two-sres',
      policyHash: expect.stringMatching(/^sha256:/),
      inputDigest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      groups: ['sre'],
      quorum: 2,
      requester: 'erin',
      // What would be undone on rejection, in undo order.
      rollbackPlan: [
        { stepId: 'bump', action: 'git.commit', compensation: 'git.commit.compensate' },
        { stepId: 'branch', action: 'git.create_branch', compensation: 'git.create_branch.compensate' },
      ],
    });
    expect((await handle.query(jobStateQuery)).status).toBe('awaiting_approval');

    expect(await vote(temporal.env.client, 'alice', request.id, 'approve')).toEqual({
      requestId: request.id,
      status: 'pending',
      approvals: 1,
      quorum: 2,
    });
    expect((await refusal(vote(temporal.env.client, 'alice', request.id, 'approve'))).code).toBe('already_voted');
    expect((await refusal(vote(temporal.env.client, 'dave', request.id, 'approve'))).code).toBe('not_in_group');
    expect(
      (await refusal(vote(temporal.env.client, 'bob', request.id, 'approve', { digest: 'sha256:' + '0'.repeat(64) })))
        .code,
    ).toBe('digest_mismatch');
    expect(await vote(temporal.env.client, 'bob', request.id, 'approve', { comment: 'ship it' })).toMatchObject({
      status: 'approved',
      approvals: 2,
    });

    await handle.result();
    const state = await handle.query(jobStateQuery);
    expect(state.status).toBe('succeeded');
    expect(state.approvals[0].votes.map((v) => [v.approver, v.channel, v.decision, v.comment])).toEqual([
      ['alice', 'api', 'approve', undefined],
      ['bob', 'api', 'approve', 'ship it'],
    ]);
    // Provenance: each step records which policy version and rule decided.
    expect(state.steps[2].decisions?.map((d) => [d.outcome, d.ruleId])).toEqual([
      ['require_approval', 'merge-needs-two-sres'],
      ['require_approval', 'merge-needs-two-sres'],
    ]);
    expect(state.steps[0].decisions?.[0]).toMatchObject({
      outcome: 'allow',
      ruleId: 'everyday',
      policyHash: request.policyHash,
    });
    // Refused votes changed nothing and left no trace.
    expect(state.approvals[0].votes).toHaveLength(2);

    // The audit trail says what happened, who allowed it (policy version + rule) and who approved, in order.
    const trail = await temporal.audit().events(jobId);
    expect(trail.map((e) => `${e.type}${e.actor ? ` by ${e.actor}` : ''}`)).toEqual([
      'job.submitted by erin',
      'policy.decision by erin',
      'action.started',
      'action.finished',
      'policy.decision by erin',
      'action.started',
      'action.finished',
      'policy.decision by erin',
      'approval.requested',
      'approval.vote by alice',
      'approval.vote by bob',
      'approval.closed',
      'policy.decision by erin',
      'action.started',
      'action.finished',
      'job.finished',
    ]);
    expect(trail[7].data).toMatchObject({
      ruleId: 'merge-needs-two-sres',
      policyHash: request.policyHash,
      outcome: 'require_approval',
    });
    expect(trail[10].data).toMatchObject({
      approver: 'bob',
      channel: 'api',
      comment: 'ship it',
      digest: request.inputDigest,
    });
    expect(await temporal.audit().verify(jobId)).toMatchObject({ ok: true, events: 16 });
    // Channels are told in the background (faults-v1): the outcome may reach them just after the job ended.
    await eventually(() => rec.events.length >= 3, 'the channel to hear of the outcome');
  });
  expect(gitOut(repo, 'show', 'main:VERSION')).toBe('1.2.3');
  // Channels hear of each vote as it arrives, then of the outcome.
  expect(rec.events.map((e) => [e.event, e.status, e.votes])).toEqual([
    ['requested', 'pending', 0],
    ['update', 'pending', 1],
    ['update', 'approved', 2],
  ]);
});

test('the requester cannot approve their own job; the job keeps waiting', async () => {
  const { worker, taskQueue } = await testWorker(temporal.env, { policy: fixture('policy-approvals.yaml') });
  await worker.runUntil(async () => {
    const { handle } = await submitJob(temporal.env.client, shipJob(repo), {
      registry,
      taskQueue,
      requester: 'bob',
      attestationKeys,
      jobId: uniqueId('job'),
    });
    const request = await pendingRequest(handle);
    const err = await refusal(vote(temporal.env.client, 'bob', request.id, 'approve'));
    expect(err.code).toBe('self_approval');
    expect(err.message).toContain('bob requested this job');
    const state = await handle.query(jobStateQuery);
    expect(state.status).toBe('awaiting_approval');
    expect(state.approvals[0].votes).toEqual([]);
    await handle.cancel();
    await handle.result().catch(() => undefined);
  });
});

test('one rejection rejects: the compensations run in reverse and the job ends rejected', async () => {
  const { worker, taskQueue } = await testWorker(temporal.env, { policy: fixture('policy-approvals.yaml') });
  await worker.runUntil(async () => {
    const { handle } = await submitJob(temporal.env.client, shipJob(repo), {
      registry,
      taskQueue,
      requester: 'erin',
      attestationKeys,
      jobId: uniqueId('job'),
    });
    const request = await pendingRequest(handle);
    await vote(temporal.env.client, 'alice', request.id, 'approve');
    expect(
      await vote(temporal.env.client, 'bob', request.id, 'reject', { comment: 'not during the freeze window' }),
    ).toMatchObject({ status: 'rejected' });
    expect((await refusal(vote(temporal.env.client, 'carol', request.id, 'approve'))).code).toBe('request_closed');

    const failure = await failureOf(handle);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe('ApprovalRejected');
    expect(failure.message).toBe(`bob rejected ${request.id} via api: not during the freeze window`);
    const state = await handle.query(jobStateQuery);
    expect(state.status).toBe('rejected');
    expect(state.compensated).toEqual(['bump', 'branch']);
    expect(state.steps.map((s) => s.status)).toEqual(['compensated', 'compensated', 'rejected']);
  });
  expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/rel')).toBe(false);
});

test('a deny rule stops the job before the action, names the rule, and compensates', async () => {
  const { worker, taskQueue } = await testWorker(temporal.env, { policy: fixture('policy-approvals.yaml') });
  await worker.runUntil(async () => {
    const job = {
      agent: 'cleanup-bot',
      title: 'Tidy branches',
      steps: [
        { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'tmp' } },
        { id: 'delete', action: 'git.delete_branch', input: { repo, branch: 'main' } },
      ],
    };
    const { handle } = await submitJob(temporal.env.client, job, {
      registry,
      taskQueue,
      requester: 'erin',
      attestationKeys,
      jobId: uniqueId('job'),
    });
    const failure = await failureOf(handle);
    expect(failure.type).toBe('PolicyDenied');
    expect(failure.message).toContain('denied by rule never-delete-branches: agents never delete branches');
    const state = await handle.query(jobStateQuery);
    expect(state.steps[1]).toMatchObject({
      status: 'denied',
      decisions: [{ outcome: 'deny', ruleId: 'never-delete-branches' }],
    });
    expect(state.compensated).toEqual(['branch']);
    expect(state.spent.actions).toBe(1);
  });
  expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/main')).toBe(true);
  expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/tmp')).toBe(false);
});

test('budgets: a job stops before the action that would exceed maxActions or maxCost, and compensates', async () => {
  const { worker, taskQueue } = await testWorker(temporal.env, { policy: fixture('policy-approvals.yaml') });
  await worker.runUntil(async () => {
    const actions = shipJob(repo, { budget: { maxActions: 2 } });
    const first = await submitJob(temporal.env.client, actions, {
      registry,
      taskQueue,
      requester: 'erin',
      attestationKeys,
      jobId: uniqueId('job'),
    });
    const f1 = await failureOf(first.handle);
    expect(f1.type).toBe('BudgetExceeded');
    expect(f1.message).toBe('step merge would be action 3 of at most 2');
    expect((await first.handle.query(jobStateQuery)).compensated).toEqual(['bump', 'branch']);

    // shell.run costs one unit per started minute of its timeout.
    const costly = {
      agent: 'ops-bot',
      title: 'Two long checks',
      budget: { maxCost: 3 },
      steps: [
        { id: 'one', action: 'shell.run', input: { argv: ['true'], cwd: '/tmp', timeoutSec: 120 } },
        { id: 'two', action: 'shell.run', input: { argv: ['true'], cwd: '/tmp', timeoutSec: 120 } },
      ],
    };
    const second = await submitJob(temporal.env.client, costly, {
      registry,
      taskQueue,
      requester: 'erin',
      attestationKeys,
      jobId: uniqueId('job'),
    });
    const f2 = await failureOf(second.handle);
    expect(f2.type).toBe('BudgetExceeded');
    expect(f2.message).toBe('step two costs 2; 2 of 3 already spent');
    expect((await second.handle.query(jobStateQuery)).steps.map((s) => s.status)).toEqual(['succeeded', 'pending']);
  });
});

test('a deadline that passes while waiting for approval ends the job timed_out', async () => {
  const { worker, taskQueue } = await testWorker(temporal.env, { policy: fixture('policy-approvals.yaml') });
  await worker.runUntil(async () => {
    const deadline = new Date(Date.now() + 3000).toISOString();
    const { handle } = await submitJob(temporal.env.client, shipJob(repo, { budget: { deadline } }), {
      registry,
      taskQueue,
      requester: 'erin',
      attestationKeys,
      jobId: uniqueId('job'),
    });
    const failure = await failureOf(handle);
    expect(failure.type).toBe('DeadlineExceeded');
    const state = await handle.query(jobStateQuery);
    expect(state.status).toBe('timed_out');
    expect(state.approvals[0].status).toBe('timed_out');
    expect(state.compensated).toEqual(['bump', 'branch']);
  });
});

test('freeze mid-job: the job pauses before its next action, new jobs are refused, unfreeze resumes it', async () => {
  const { worker, taskQueue, freeze } = await testWorker(temporal.env, { policy: fixture('policy-approvals.yaml') });
  const agent = uniqueId('agent');
  const gate = join(mkdtempSync(join(tmpdir(), 'airlock-gate-')), 'open');
  await worker.runUntil(async () => {
    const job = {
      agent,
      title: 'Slow release',
      steps: [
        { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'slow' } },
        // Runs until the test opens the gate, so the freeze lands while an action is in flight.
        {
          id: 'wait',
          action: 'shell.run',
          input: { argv: ['sh', '-c', `while [ ! -e ${gate} ]; do sleep 0.1; done`], cwd: '/tmp' },
        },
        {
          id: 'bump',
          action: 'git.commit',
          input: { repo, branch: 'slow', message: 'Bump', files: [{ path: 'V', content: '1' }] },
        },
      ],
    };
    const { handle } = await submitJob(temporal.env.client, job, {
      registry,
      taskQueue,
      requester: 'erin',
      attestationKeys,
      jobId: uniqueId('job'),
    });
    await waitForState(handle, (s) => s.steps[1].status === 'running');
    const { signalled } = await freeze.freeze({
      agent,
      mode: 'pause',
      reason: 'incident INC-7',
      by: 'carol',
      at: new Date().toISOString(),
    });
    expect(signalled).toBe(1);
    writeFileSync(gate, '');
    const frozen = await waitForState(handle, (s) => s.status === 'frozen');
    expect(frozen.steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'pending']);
    expect(frozen.frozen).toMatchObject({ reason: 'incident INC-7', by: 'carol' });

    const refused = await submitJob(temporal.env.client, job, {
      registry,
      taskQueue,
      requester: 'erin',
      freeze,
      jobId: uniqueId('job'),
    }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(JobFrozenError);
    expect((refused as Error).message).toBe(`agent ${agent} is frozen by carol: incident INC-7`);

    await freeze.unfreeze(agent);
    await handle.result();
    expect((await handle.query(jobStateQuery)).status).toBe('succeeded');
  });
});

test('freeze with abort: a job waiting for approval is stopped and compensated', async () => {
  const { worker, taskQueue, freeze } = await testWorker(temporal.env, { policy: fixture('policy-approvals.yaml') });
  const agent = uniqueId('agent');
  await worker.runUntil(async () => {
    const { handle } = await submitJob(temporal.env.client, shipJob(repo, { agent }), {
      registry,
      taskQueue,
      requester: 'erin',
      attestationKeys,
      jobId: uniqueId('job'),
    });
    await pendingRequest(handle);
    await freeze.freeze({ agent, mode: 'abort', reason: 'kill switch', by: 'carol', at: new Date().toISOString() });
    const failure = await failureOf(handle);
    expect(failure.type).toBe('JobFrozen');
    const state = await handle.query(jobStateQuery);
    expect(state.status).toBe('cancelled');
    expect(state.approvals[0].status).toBe('cancelled');
    expect(state.compensated).toEqual(['bump', 'branch']);
    await freeze.unfreeze(agent);
  });
});

test('a policy edited while a job waits: approvals given under the old version are asked again, and history replays', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-policy-'));
  const file = join(dir, 'policy.yaml');
  copyFileSync(fixture('policy-approvals.yaml'), file);
  const store = new PolicyStore(file);
  const { worker, taskQueue } = await testWorker(temporal.env, { policy: store });
  const { handle } = await worker.runUntil(async () => {
    const submitted = await submitJob(temporal.env.client, shipJob(repo), {
      registry,
      taskQueue,
      requester: 'erin',
      attestationKeys,
      jobId: uniqueId('job'),
    });
    const first = await pendingRequest(submitted.handle);
    await vote(temporal.env.client, 'alice', first.id, 'approve');
    // The policy changes before the quorum is reached: a new version asks for one approval only.
    writeFileSync(file, readFileSync(file, 'utf8').replace('quorum: 2', 'quorum: 1'));
    expect(store.reload()).toMatchObject({ ok: true, changed: true });
    await vote(temporal.env.client, 'bob', first.id, 'approve');
    // The approval was for the old policy version: the step is asked again under the new one.
    const second = await waitForState(submitted.handle, (s) =>
      s.approvals.some((a) => a.status === 'pending' && a.policyHash !== first.policyHash),
    );
    const again = second.approvals.find((a) => a.status === 'pending')!;
    expect(again.quorum).toBe(1);
    await vote(temporal.env.client, 'carol', again.id, 'approve').catch((e: ApprovalRefusedError) =>
      expect(e.code).toBe('not_in_group'),
    );
    await vote(temporal.env.client, 'alice', again.id, 'approve');
    await submitted.handle.result();
    return submitted;
  });
  // The decisions are in history: replay does not read the (edited) policy file.
  writeFileSync(file, 'version: 1\n');
  const history = await handle.fetchHistory();
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, handle.workflowId);
});
