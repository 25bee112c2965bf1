/**
 * Records histories of the job workflow on its approval paths (votes as `decide` updates, approval timers, escalation,
 * freeze signals, a policy edited after an approval, cancellation, compensations, a compensation that fails) into
 * test/histories/<scenario>.<tag>.json, for the replay test. Runs on a real dev server (in memory) with the policy
 * test/fixtures/policy-histories.yaml and the people of test/fixtures/people.yaml; tag as scripts/record-histories.ts:
 *   npm run record-approval-histories -- <tag> [scenario ...]
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { ApprovalRefusedError } from '../approvals/deliver';
import { loadConfig } from '../src/config';
import { startStack, type Stack } from '../src/dev/stack';
import { readJobFile } from '../src/jobs/job-file';
import { submitJob } from '../src/jobs/submit';
import { projectRoot } from '../src/temporal/binaries';
import { jobStateQuery } from '../workflows/messages';
import type { RefusalCode } from '../src/core/approval';
import type { JobState } from '../src/core/job';
import { pendingRequest, vote, waitForState } from '../test/helpers/approvals';
import { gitOut, makeRepo } from '../test/helpers/git';
import { fixture } from '../test/helpers/temporal';
import { attestationKeys, testAttestationKeyPem } from '../test/helpers/attestation';
import { historyJobId, recordingTag, saveHistory } from './histories';

interface Run {
  stack: Stack;
  handle: WorkflowHandle;
  repo: string;
  agent: string;
  /** The worker's policy file (a copy of the fixture), for the scenario that edits it. */
  policyFile: string;
}

interface Scenario {
  name: string;
  /** The policy matches on it (escalating-bot); freezes are per agent. */
  agent?: string;
  /** Drives the job while it runs; the recorder then waits for its end. */
  drive: (run: Run) => Promise<void>;
  expect: { status: JobState['status']; compensated: string[] };
}

const UNDONE = ['change', 'branch'];

async function refused(p: Promise<unknown>, code: RefusalCode) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApprovalRefusedError) || err.code !== code)
    throw new Error(`expected a ${code} refusal: ${err}`);
}

/** Someone else commits over the job's file on its branch: reverting the job's commit then conflicts. */
function commitAsOutsider(repo: string, branch: string, path: string) {
  const clone = mkdtempSync(join(tmpdir(), 'airlock-outsider-'));
  try {
    gitOut(clone, 'clone', '-q', '-b', branch, repo, '.');
    writeFileSync(join(clone, path), 'replicas: 5\n');
    gitOut(clone, 'commit', '-q', '-am', 'Outsider scales ingress');
    gitOut(clone, 'push', '-q', 'origin', branch);
  } finally {
    rmSync(clone, { recursive: true, force: true });
  }
}

const freezeEntry = (agent: string, mode: 'pause' | 'abort') => ({
  agent,
  mode,
  reason: 'incident INC-7',
  by: 'carol',
  at: new Date().toISOString(),
});

const SCENARIOS: Scenario[] = [
  {
    name: 'approved-quorum',
    drive: async ({ stack: { client }, handle }) => {
      const request = await pendingRequest(handle);
      await vote(client, 'alice', request.id, 'approve');
      await refused(vote(client, 'alice', request.id, 'approve'), 'already_voted'); // no trace in history
      await vote(client, 'bob', request.id, 'approve', { comment: 'ship it' });
    },
    expect: { status: 'succeeded', compensated: [] },
  },
  {
    name: 'rejected',
    drive: async ({ stack: { client }, handle }) => {
      const request = await pendingRequest(handle);
      await vote(client, 'alice', request.id, 'approve');
      await vote(client, 'bob', request.id, 'reject', { comment: 'not during the freeze window' });
    },
    expect: { status: 'rejected', compensated: UNDONE },
  },
  {
    name: 'escalated-approved',
    agent: 'escalating-bot',
    drive: async ({ stack: { client }, handle }) => {
      const request = await pendingRequest(handle);
      // One of two SREs in time (4 s); the request escalates to the leads, where one approval is enough.
      await vote(client, 'alice', request.id, 'approve');
      await waitForState(handle, (s) => s.approvals[0]?.escalated === true);
      await vote(client, 'carol', request.id, 'approve');
    },
    expect: { status: 'succeeded', compensated: [] },
  },
  {
    name: 'escalated-timed-out',
    agent: 'escalating-bot',
    // Nobody decides: 4 s, escalation to the leads, 8 s more.
    drive: async () => undefined,
    expect: { status: 'timed_out', compensated: UNDONE },
  },
  {
    name: 'frozen-paused',
    agent: 'paused-bot',
    drive: async ({ stack: { client, freeze }, handle, agent }) => {
      const request = await pendingRequest(handle);
      if ((await freeze.freeze(freezeEntry(agent, 'pause'))).signalled !== 1) throw new Error('freeze not signalled');
      // Approved while frozen: the job waits before acting until unfrozen.
      await vote(client, 'alice', request.id, 'approve');
      await vote(client, 'bob', request.id, 'approve');
      await waitForState(handle, (s) => s.status === 'frozen');
      if ((await freeze.unfreeze(agent)).signalled !== 1) throw new Error('unfreeze not signalled');
    },
    expect: { status: 'succeeded', compensated: [] },
  },
  {
    name: 'frozen-aborted',
    agent: 'aborted-bot',
    drive: async ({ stack: { client, freeze }, handle, agent }) => {
      const request = await pendingRequest(handle);
      await vote(client, 'alice', request.id, 'approve');
      if ((await freeze.freeze(freezeEntry(agent, 'abort'))).signalled !== 1) throw new Error('freeze not signalled');
      await handle.result().catch(() => undefined);
      await freeze.unfreeze(agent);
    },
    expect: { status: 'cancelled', compensated: UNDONE },
  },
  {
    name: 'reasked-after-policy-edit',
    drive: async ({ stack: { client, policy }, handle, policyFile }) => {
      const first = await pendingRequest(handle);
      await vote(client, 'alice', first.id, 'approve');
      // A new policy version before the action runs: the approval (quorum reached under the old one) no longer counts.
      const original = readFileSync(policyFile, 'utf8');
      writeFileSync(policyFile, original.replace('quorum: 2, timeout: 1h', 'quorum: 1, timeout: 1h'));
      try {
        if (!policy.reload().ok) throw new Error('the edited policy did not load');
        await vote(client, 'bob', first.id, 'approve');
        const state = await waitForState(handle, (s) =>
          s.approvals.some((a) => a.status === 'pending' && a.policyHash !== first.policyHash),
        );
        await vote(client, 'alice', state.approvals.find((a) => a.status === 'pending')!.id, 'approve');
        await handle.result();
      } finally {
        writeFileSync(policyFile, original);
        policy.reload();
      }
    },
    expect: { status: 'succeeded', compensated: [] },
  },
  {
    name: 'cancelled-awaiting-approval',
    drive: async ({ stack: { client }, handle }) => {
      const request = await pendingRequest(handle);
      await vote(client, 'alice', request.id, 'approve');
      await handle.cancel();
    },
    expect: { status: 'cancelled', compensated: UNDONE },
  },
  {
    name: 'compensation-failed',
    drive: async ({ stack: { client }, handle, repo }) => {
      const request = await pendingRequest(handle);
      commitAsOutsider(repo, 'ingress-v2', 'ingress.yaml');
      await vote(client, 'bob', request.id, 'reject');
    },
    // The change's revert conflicts with the outsider's commit; the branch is still undone.
    expect: { status: 'compensation_failed', compensated: ['branch'] },
  },
];

async function record(stack: Stack, scenario: Scenario, tag: string, policyFile: string) {
  const { repo, cleanup } = makeRepo();
  try {
    const agent = scenario.agent ?? 'release-bot';
    const job = readJobFile(join(projectRoot, 'examples', 'prod-infra-merge.json'), { repo }) as object;
    const { handle } = await submitJob(
      stack.client,
      { ...job, agent },
      {
        registry: stack.registry,
        taskQueue: stack.taskQueue,
        requester: 'erin',
        jobId: historyJobId(scenario.name),
        attestationKeys,
      },
    );
    await scenario.drive({ stack, handle, repo, agent, policyFile });
    await handle.result().catch(() => undefined);
    const state = await handle.query(jobStateQuery);
    const { status, compensated } = scenario.expect;
    if (state.status !== status || JSON.stringify(state.compensated) !== JSON.stringify(compensated)) {
      throw new Error(
        `${scenario.name} ended ${state.status}, compensated [${state.compensated}]; expected ${status}, [${compensated}]: not recording`,
      );
    }
    const { out, events } = await saveHistory(handle, scenario.name, tag);
    console.log(`recorded ${out} (${events} events)`);
  } finally {
    cleanup();
  }
}

async function main() {
  const tag = recordingTag(`npm run record-approval-histories -- <tag> [${SCENARIOS.map((s) => s.name).join(' ')}]`);
  const only = process.argv.slice(3);
  const unknown = only.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`no scenario ${unknown.join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'airlock-record-'));
  const policyFile = join(dir, 'policy.yaml');
  copyFileSync(fixture('policy-histories.yaml'), policyFile);
  const stack = await startStack({
    config: loadConfig({
      ...process.env,
      AIRLOCK_TASK_QUEUE: 'record-histories',
      AIRLOCK_DATABASE_URL: 'memory:',
      AIRLOCK_POLICY_FILE: policyFile,
      AIRLOCK_PEOPLE_FILE: fixture('people.yaml'),
      AIRLOCK_ATTESTATION_KEY: testAttestationKeyPem,
    }),
    persistent: false,
  });
  try {
    for (const scenario of SCENARIOS) {
      if (!only.length || only.includes(scenario.name)) await record(stack, scenario, tag, policyFile);
    }
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
