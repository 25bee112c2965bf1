/**
 * Correct under faults (the `faults-v1` patch), on a real Temporal dev server: what happens after a job ends cannot
 * undo it; a channel that is down decides nothing; a freeze never strands a job; outputs never break the workflow
 * after the side effect; a step refused for its input is not undone and a cancelled job closes its request; an action
 * that may have acted unseen is `unknown`, counted, and the policy decides.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { z } from 'zod';
import { builtinRegistry } from '../../activities';
import { ToolRegistry } from '../../activities/registry';
import { defineTool } from '../../activities/tool';
import type { ApprovalChannel } from '../../approvals/channel';
import { StepOutputTable } from '../../src/audit/outputs';
import { callbackTrailId } from '../../src/core/audit';
import { readCallbackStatus } from '../../src/jobs/read';
import { sessionStep } from '../../src/jobs/plan';
import { submitJob } from '../../src/jobs/submit';
import { AgentSessions } from '../../src/sessions/sessions';
import { clearFreezeUpdate } from '../../workflows/freeze';
import { jobStateQuery } from '../../workflows/messages';
import { attestationKeys } from '../helpers/attestation';
import { pendingRequest, recordingChannel, vote, waitForState } from '../helpers/approvals';
import { gitOk, makeRepo } from '../helpers/git';
import { testWorker, uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';

const temporal = useTemporalServer();
const SECRET = 'callback-secret-for-tests';

/** A test-only tool whose action may outlive its 1 s timeout (no retries) and whose compensation is counted. */
const counts = { hang: 0, hangUndone: 0 };
const hang = defineTool({
  name: 'test.hang',
  description: 'sleeps past its timeout',
  risk: 'high',
  input: z.object({ ms: z.number() }),
  output: z.object({ slept: z.number() }),
  idempotency: 'none: runs once',
  timeouts: { startToCloseMs: 1000 },
  retry: { maximumAttempts: 1 },
  async execute({ ms }) {
    counts.hang++;
    await new Promise((r) => setTimeout(r, ms));
    return { slept: ms };
  },
  async compensate() {
    counts.hangUndone++;
  },
});
const registry = new ToolRegistry([...builtinRegistry().list(), hang]);

function policyFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'airlock-faults-')), 'policy.yaml');
  writeFileSync(file, yaml);
  return file;
}

async function listen(handler: Parameters<typeof createServer>[1]) {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A policy allowing everything that asks an sre whether an action of unknown outcome acted. */
const askWhetherItActed = () =>
  policyFile(`version: 1
default: { decision: allow }
onUnknownOutcome:
  ask: { groups: [sre], quorum: 1, timeout: 1h, channels: [api] }
`);

const submit = (job: object, taskQueue: string, requester = 'ci') =>
  submitJob(temporal.env.client, job, { registry, taskQueue, requester, jobId: uniqueId('job'), attestationKeys });

describe('1. what happens after a job ends cannot undo it', () => {
  test('the job completes before its callback is delivered; the delivery retries after the job closed', async () => {
    const answers: number[] = [];
    const { server, url } = await listen((req, res) => {
      req.resume();
      req.on('end', () => {
        const status = answers.length === 0 ? 503 : 200; // the receiver is down the first time
        answers.push(status);
        res.writeHead(status).end();
      });
    });
    const { repo, cleanup } = makeRepo();
    const { worker, taskQueue } = await testWorker(temporal.env, { callbackSecret: SECRET, registry });
    try {
      await worker.runUntil(async () => {
        const { handle, jobId } = await submit(
          {
            agent: 'release-bot',
            title: 'Callback later',
            callbackUrl: `${url}/airlock`,
            steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch: 'cb' } }],
          },
          taskQueue,
        );
        expect(await handle.result()).toMatchObject({ status: 'succeeded' });
        // Closed before the receiver took the callback.
        expect(answers.filter((a) => a === 200)).toEqual([]);
        expect((await handle.describe()).status.name).toBe('COMPLETED');
        const status = await eventually(async () => {
          const s = await readCallbackStatus(temporal.env.client, jobId);
          return s?.state === 'delivered' && s;
        }, 'the callback to be delivered');
        expect(status.attempts).toBe(2);
        expect(answers).toEqual([503, 200]);
        expect((await handle.query(jobStateQuery)).compensated).toEqual([]);
      });
      expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/cb')).toBe(true);
    } finally {
      server.close();
      cleanup();
    }
  });

  test('a callback refused for good leaves the succeeded job as it is, and says so outside its sealed trail', async () => {
    const { repo, cleanup } = makeRepo();
    // The callback host is not allowed: a permanent refusal.
    const { worker, taskQueue } = await testWorker(temporal.env, {
      callbackSecret: SECRET,
      registry,
      config: { AIRLOCK_CALLBACK_ALLOWED_HOSTS: 'hooks.example.com' },
    });
    try {
      await worker.runUntil(async () => {
        const { handle, jobId } = await submit(
          {
            agent: 'release-bot',
            title: 'Callback refused',
            callbackUrl: 'http://127.0.0.1:9/airlock',
            steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch: 'kept' } }],
          },
          taskQueue,
        );
        expect(await handle.result()).toMatchObject({ status: 'succeeded' });
        const state = await handle.query(jobStateQuery);
        expect([state.status, state.compensated]).toEqual(['succeeded', []]);
        const status = await eventually(async () => {
          const s = await readCallbackStatus(temporal.env.client, jobId);
          return s?.state === 'failed' && s;
        }, 'the callback delivery to give up');
        expect(status.lastError?.type).toBe('CallbackRefused');
        const failed = await eventually(
          async () => (await temporal.audit().events(callbackTrailId(jobId))).find((e) => e.type === 'callback.failed'),
          'callback.failed in the callback trail',
        );
        expect(failed.data).toMatchObject({ jobId, jobStatus: 'succeeded', state: 'failed' });
        // The job's own trail ends with job.finished, still signed as it was.
        const trail = await temporal.audit().events(jobId);
        expect(trail.at(-1)?.type).toBe('job.finished');
        expect((await temporal.audit().verify(jobId)).ok).toBe(true);
      });
      expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/kept')).toBe(true);
    } finally {
      cleanup();
    }
  });
});

describe('2. an approval channel that is down decides nothing', () => {
  /** A channel that is down: every call fails, and is counted. */
  const downChannel = () => {
    const calls: string[] = [];
    const channel: ApprovalChannel = {
      name: 'down',
      announce: async (r, event) => {
        calls.push(event);
        throw new Error('channel unavailable');
      },
      update: async (r) => {
        calls.push(`update:${r.status}`);
        throw new Error('channel unavailable');
      },
    };
    return { channel, calls };
  };

  test('a request announced on a dead channel is still decided from the API, and the job acts', async () => {
    const down = downChannel();
    const { worker, taskQueue } = await testWorker(temporal.env, {
      registry,
      channels: [down.channel],
      policy: policyFile(`version: 1
default: { decision: allow }
rules:
  - id: ask
    match: { action: shell.run }
    decision: require_approval
    approval: { groups: [sre], quorum: 1, timeout: 1h, channels: [api, down] }
`),
    });
    await worker.runUntil(async () => {
      const { handle, jobId } = await submit(
        {
          agent: 'release-bot',
          title: 'Ask',
          steps: [{ id: 'run', action: 'shell.run', input: { argv: ['true'], cwd: '/tmp' } }],
        },
        taskQueue,
        'erin',
      );
      const request = await pendingRequest(handle);
      await vote(temporal.env.client, 'alice', request.id, 'approve');
      expect(await handle.result()).toMatchObject({ status: 'succeeded' });
      // The channel is retried in the background, and the audit has the request and its vote all the same.
      await eventually(() => down.calls.length >= 3, 'the dead channel to be retried');
      const types = (await temporal.audit().events(jobId)).map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(['approval.requested', 'approval.vote', 'approval.closed']));
    });
  });

  test('the approval timeout runs from the request, not from when a slow channel was done', async () => {
    const announced: number[] = [];
    const slow: ApprovalChannel = {
      name: 'slow',
      announce: async () => {
        announced.push(Date.now());
        await new Promise((r) => setTimeout(r, 6000));
      },
      update: async () => undefined,
    };
    const { worker, taskQueue } = await testWorker(temporal.env, {
      registry,
      channels: [slow],
      policy: policyFile(`version: 1
default: { decision: allow }
rules:
  - id: ask
    match: { action: shell.run }
    decision: require_approval
    approval: { groups: [sre], quorum: 1, timeout: 2s, channels: [slow] }
`),
    });
    await worker.runUntil(async () => {
      const { handle } = await submit(
        {
          agent: 'release-bot',
          title: 'Ask',
          steps: [{ id: 'run', action: 'shell.run', input: { argv: ['true'], cwd: '/tmp' } }],
        },
        taskQueue,
        'erin',
      );
      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const request = (await handle.query(jobStateQuery)).approvals[0];
      expect(request.status).toBe('timed_out');
      const waitedMs = Date.parse(request.closedAt!) - Date.parse(request.requestedAt);
      expect(waitedMs).toBeGreaterThanOrEqual(2000);
      expect(waitedMs).toBeLessThan(4000);
      expect(announced.length).toBeGreaterThanOrEqual(1);
    });
  });
});

describe('3. a freeze never strands a job', () => {
  const pause = (agent: string) => ({
    agent,
    mode: 'pause' as const,
    reason: 'INC-9',
    by: 'carol',
    at: new Date().toISOString(),
  });

  test('a job paused on a freeze whose unfreeze it never heard of resumes by itself', async () => {
    const { repo, cleanup } = makeRepo();
    const { worker, taskQueue, freeze } = await testWorker(temporal.env, { registry });
    const agent = uniqueId('bot');
    try {
      await worker.runUntil(async () => {
        await freeze.freeze(pause(agent));
        const { handle } = await submit(
          { agent, title: 'Paused', steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch: 'p' } }] },
          taskQueue,
        );
        await waitForState(handle, (s) => s.status === 'frozen');
        // The freeze is lifted where it is kept, and the job is not told (its unfreeze came before it paused).
        await temporal.env.client.workflow
          .getHandle(`airlock-freeze-${taskQueue}`)
          .executeUpdate(clearFreezeUpdate, { args: [{ agent }] });
        expect(await handle.result()).toMatchObject({ status: 'succeeded' });
      });
    } finally {
      cleanup();
    }
  }, 60_000);

  test("a paused job's deadline still applies", async () => {
    const { repo, cleanup } = makeRepo();
    const { worker, taskQueue, freeze } = await testWorker(temporal.env, { registry });
    const agent = uniqueId('bot');
    try {
      await worker.runUntil(async () => {
        await freeze.freeze(pause(agent));
        const { handle } = await submit(
          {
            agent,
            title: 'Paused past its deadline',
            budget: { deadline: new Date(Date.now() + 3000).toISOString() },
            steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch: 'd' } }],
          },
          taskQueue,
        );
        const err = await Promise.race([
          handle.result().catch((e: unknown) => e),
          new Promise((r) => setTimeout(() => r('still paused after 20 s'), 20_000)),
        ]);
        expect(err).toBeInstanceOf(WorkflowFailedError);
        expect(((err as WorkflowFailedError).cause as { type?: string }).type).toBe('DeadlineExceeded');
        expect((await handle.query(jobStateQuery)).status).toBe('timed_out');
        await freeze.unfreeze(agent);
      });
    } finally {
      cleanup();
    }
  }, 60_000);
});

describe('4. outputs never break the workflow after the side effect', () => {
  test('a 4 MiB HTTP response and 2 MiB of shell output: the job completes, the outputs are stored, history stays small', async () => {
    const body = 'x'.repeat(4 * 1024 * 1024);
    const { server, url } = await listen((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
    });
    const { worker, taskQueue } = await testWorker(temporal.env, { registry });
    try {
      await worker.runUntil(async () => {
        const { handle, jobId } = await submit(
          {
            agent: 'release-bot',
            title: 'Large outputs',
            steps: [
              { id: 'fetch', action: 'http.request', input: { url: `${url}/big`, maxResponseBytes: 4 * 1024 * 1024 } },
              {
                id: 'print',
                action: 'shell.run',
                input: {
                  argv: [
                    'sh',
                    '-c',
                    'head -c 1048576 /dev/zero | tr "\\0" a; head -c 1048576 /dev/zero | tr "\\0" b >&2',
                  ],
                  cwd: '/tmp',
                  maxOutputBytes: 1024 * 1024,
                },
              },
              // Small fields stay addressable.
              {
                id: 'echo',
                action: 'shell.run',
                input: { argv: ['echo', { $ref: 'steps.fetch.output.contentType' }], cwd: '/tmp' },
              },
            ],
          },
          taskQueue,
        );
        const result = await handle.result();
        expect(result.status).toBe('succeeded');
        expect(result.outputs.fetch).toMatchObject({ status: 200, body: { $stored: { bytes: body.length + 2 } } });
        expect(result.outputs.print).toMatchObject({ exitCode: 0, stdout: { $stored: {} }, stderr: { $stored: {} } });
        expect((result.outputs.echo as { stdout: string }).stdout).toBe('text/plain\n');
        const stored = new StepOutputTable(temporal.audit().db);
        expect(((await stored.get(jobId, 'fetch'))!.output as { body: string }).body).toBe(body);
        const print = (await stored.get(jobId, 'print'))!.output as { stdout: string; stderr: string };
        expect([print.stdout.length, print.stderr.length]).toEqual([1024 * 1024, 1024 * 1024]);
        const history = await handle.fetchHistory();
        const historyBytes = Buffer.byteLength(JSON.stringify(history));
        console.log(`history of a job with 6 MiB of outputs: ${historyBytes} bytes`);
        expect(historyBytes).toBeLessThan(512 * 1024);
      });
    } finally {
      server.close();
    }
  }, 120_000);
});

describe('5. compensations: nothing to undo before acting; a cancel closes the request everywhere', () => {
  test('a step refused for its input is not compensated (no false compensation_failed)', async () => {
    const { repo, cleanup } = makeRepo();
    const { worker, taskQueue } = await testWorker(temporal.env, { registry });
    try {
      await worker.runUntil(async () => {
        const { handle } = await submit(
          {
            agent: 'release-bot',
            title: 'Bad ref type',
            steps: [
              { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'v' } },
              {
                id: 'commit',
                action: 'git.commit',
                // `created` is a boolean: the commit's input check refuses it before acting.
                input: {
                  repo,
                  branch: { $ref: 'steps.branch.output.created' },
                  message: 'x',
                  files: [{ path: 'A', content: 'a' }],
                },
              },
            ],
          },
          taskQueue,
        );
        const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
        expect(err).toBeInstanceOf(WorkflowFailedError);
        const state = await handle.query(jobStateQuery);
        expect(state.status).toBe('failed');
        expect(state.compensated).toEqual(['branch']);
        expect(state.steps.map((s) => s.status)).toEqual(['compensated', 'failed']);
      });
      expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/v')).toBe(false);
    } finally {
      cleanup();
    }
  });

  test('a job cancelled while waiting for approval closes its request as cancelled, and the channels hear it', async () => {
    const rec = recordingChannel();
    const { worker, taskQueue } = await testWorker(temporal.env, {
      registry,
      channels: [rec.channel],
      policy: policyFile(`version: 1
default: { decision: allow }
rules:
  - id: ask
    match: { action: shell.run }
    decision: require_approval
    approval: { groups: [sre], quorum: 2, timeout: 1h, channels: [recorder] }
`),
    });
    await worker.runUntil(async () => {
      const { handle, jobId } = await submit(
        {
          agent: 'release-bot',
          title: 'Cancel me',
          steps: [{ id: 'run', action: 'shell.run', input: { argv: ['true'], cwd: '/tmp' } }],
        },
        taskQueue,
        'erin',
      );
      const request = await pendingRequest(handle);
      await vote(temporal.env.client, 'alice', request.id, 'approve');
      await handle.cancel();
      await handle.result().catch(() => undefined);
      const state = await handle.query(jobStateQuery);
      expect(state.status).toBe('cancelled');
      expect(state.approvals[0].status).toBe('cancelled');
      await eventually(
        () => rec.events.some((e) => e.event === 'update' && e.status === 'cancelled'),
        'the channel to hear of the cancel',
      );
      const closed = (await temporal.audit().events(jobId)).find((e) => e.type === 'approval.closed');
      expect(closed?.data).toMatchObject({ status: 'cancelled' });
    });
  });
});

describe('6. a started action that may have acted unseen is unknown', () => {
  test('it is counted as spent, marked unknown, and compensated as if it acted (the default)', async () => {
    const before = { ...counts };
    const { worker, taskQueue } = await testWorker(temporal.env, { registry });
    await worker.runUntil(async () => {
      const { handle } = await submit(
        { agent: 'release-bot', title: 'Hangs', steps: [{ id: 'hang', action: 'test.hang', input: { ms: 3000 } }] },
        taskQueue,
      );
      const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err.cause as { type?: string }).type).toBe('OutcomeUnknown');
      const state = await handle.query(jobStateQuery);
      expect(state.spent.actions).toBe(1);
      expect(state.compensated).toEqual(['hang']);
      expect(state.steps[0].status).toBe('compensated');
    });
    expect(counts.hang - before.hang).toBe(1);
    expect(counts.hangUndone - before.hangUndone).toBe(1);
  });

  test('with `onUnknownOutcome: ask`, humans say whether it acted: "it did not" undoes nothing', async () => {
    const before = { ...counts };
    const { worker, taskQueue } = await testWorker(temporal.env, {
      registry,
      policy: askWhetherItActed(),
    });
    await worker.runUntil(async () => {
      const { handle, jobId } = await submit(
        { agent: 'release-bot', title: 'Hangs', steps: [{ id: 'hang', action: 'test.hang', input: { ms: 3000 } }] },
        taskQueue,
        'erin',
      );
      const state = await waitForState(handle, (s) => s.steps[0].status === 'awaiting_approval');
      expect(state.spent.actions).toBe(1);
      const question = state.approvals.find((a) => a.status === 'pending')!;
      expect(question.id).toBe(`${jobId}:hang.outcome`);
      expect(question.reason).toMatch(/^Did hang act\?/);
      await vote(temporal.env.client, 'bob', question.id, 'reject', { comment: 'nothing changed' });
      const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
      expect((err.cause as { type?: string; message: string }).message).toMatch(/it did not act: not compensated/);
      const end = await handle.query(jobStateQuery);
      expect(end.compensated).toEqual([]);
      expect(end.steps[0].status).toBe('failed');
    });
    expect(counts.hangUndone - before.hangUndone).toBe(0);
  });

  test("in a budgeted agent session, a call humans are asked about does not hold up the session's other calls", async () => {
    // A budget makes a session's calls act one at a time; a question that takes people hours must not keep the turn.
    const { repo, cleanup } = makeRepo();
    const { worker, taskQueue } = await testWorker(temporal.env, {
      registry,
      policy: askWhetherItActed(),
    });
    const sessions = new AgentSessions({ client: temporal.env.client, taskQueue, attestationKeys });
    const step = (action: string, input: Record<string, unknown>) => sessionStep(registry.get(action)!, input, {});
    try {
      await worker.runUntil(async () => {
        const sessionId = await sessions.start({
          name: 'release-bot',
          tokenSha256: '0'.repeat(64),
          caller: 'ci',
          context: {},
          budget: { maxActions: 5 },
          idleTimeout: 600_000,
        });
        const handle = temporal.env.client.workflow.getHandle(sessionId);
        const hung = sessions
          .call(sessionId, 'hang', step('test.hang', { ms: 3000 }), { waitMs: 60_000 })
          .catch((e: unknown) => e);
        const asked = await waitForState(handle, (s) => s.approvals.some((a) => a.status === 'pending'));
        expect(asked.spent.actions).toBe(1);

        const other = await sessions.call(
          sessionId,
          'branch',
          step('git.create_branch', { repo, branch: 'while-asked' }),
          { waitMs: 15_000 },
        );
        expect(other.done).toBe(true);
        expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/while-asked')).toBe(true);
        expect((await handle.query(jobStateQuery)).spent.actions).toBe(2);

        const question = asked.approvals.find((a) => a.status === 'pending')!;
        await vote(temporal.env.client, 'bob', question.id, 'reject', { comment: 'nothing changed' });
        const err = await hung;
        expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
        expect((err as WorkflowUpdateFailedError).cause?.message).toMatch(/it did not act/);
        await sessions.end(sessionId, 'closed', 'release-bot');
      });
    } finally {
      cleanup();
    }
  });
});
