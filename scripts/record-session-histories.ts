/**
 * Records histories of the agent-session workflow (workflows/session.ts) into test/histories/<scenario>.<tag>.json,
 * for the replay test: tool calls as `callTool` updates (allowed, denied, waiting for a person's vote), and the
 * session's end (`endSession`: rollback undoing the calls in reverse, or closed keeping them). Runs on a real dev
 * server (in memory) with the policy test/fixtures/policy-mcp.yaml and the agents of test/fixtures/people-mcp.yaml:
 *   npm run record-session-histories -- <tag> [scenario ...]
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { loadConfig } from '../src/config';
import { startStack, type Stack } from '../src/dev/stack';
import type { JobState } from '../src/core/job';
import { sessionStep } from '../src/jobs/plan';
import { AgentSessions } from '../src/sessions/sessions';
import type { SessionEnd } from '../src/core/session';
import { pendingRequest, vote } from '../test/helpers/approvals';
import { makeRepo } from '../test/helpers/git';
import { fixture } from '../test/helpers/temporal';
import { attestationKeys, testAttestationKeyPem } from '../test/helpers/attestation';
import { historyJobId, recordingTag, saveHistory } from './histories';

interface Run {
  stack: Stack;
  sessions: AgentSessions;
  sessionId: string;
  repo: string;
  /** Sends a tool call and waits for its result; throws when it did not act. */
  call: (callId: string, action: string, input: Record<string, unknown>) => Promise<unknown>;
}

interface Scenario {
  name: string;
  /** Drives the session and ends it; returns how it ended. */
  drive: (run: Run) => Promise<SessionEnd>;
  expect: { reason: SessionEnd['reason']; status: JobState['status']; compensated: string[] };
}

const SCENARIOS: Scenario[] = [
  {
    // An allowed call, an approval-gated call a person approves, then the agent rolls the session back.
    name: 'session-rollback',
    drive: async ({ stack, sessions, sessionId, repo, call }) => {
      await call('branch', 'git.create_branch', { repo, branch: 'mcp-change' });
      await call('commit', 'git.commit', {
        repo,
        branch: 'mcp-change',
        message: 'Change by an agent',
        files: [{ path: 'a.txt', content: 'a\n' }],
      });
      const merged = call('merge', 'git.merge', { repo, source: 'mcp-change', target: 'main' });
      const request = await pendingRequest(stack.client.workflow.getHandle(sessionId));
      await vote(stack.client, 'alice', request.id, 'approve', { comment: 'fine' });
      await merged;
      return sessions.end(sessionId, 'rollback', 'deploy-bot');
    },
    expect: { reason: 'rollback', status: 'cancelled', compensated: ['call-3', 'call-2', 'call-1'] },
  },
  {
    // An allowed call, a denied one and a merge a person rejects (the agent carries on), then the agent closes it.
    name: 'session-closed',
    drive: async ({ stack, sessions, sessionId, repo, call }) => {
      await call('branch', 'git.create_branch', { repo, branch: 'mcp-kept' });
      await call('delete', 'git.delete_branch', { repo, branch: 'main' }).then(
        () => Promise.reject(new Error('the delete was allowed')),
        () => undefined,
      );
      // Settled at once: the rejection arrives while the vote is still being sent.
      const merged = call('merge', 'git.merge', { repo, source: 'mcp-kept', target: 'main' }).then(
        () => 'acted',
        () => 'refused',
      );
      const request = await pendingRequest(stack.client.workflow.getHandle(sessionId));
      await vote(stack.client, 'bob', request.id, 'reject', { comment: 'not today' });
      if ((await merged) !== 'refused') throw new Error('the merge acted');
      return sessions.end(sessionId, 'closed', 'deploy-bot');
    },
    expect: { reason: 'closed', status: 'succeeded', compensated: [] },
  },
  {
    // Three calls sent side by side in a budgeted session (one acts at a time: session-budget-lock), then closed.
    name: 'session-side-by-side',
    drive: async ({ sessions, sessionId, repo, call }) => {
      await Promise.all(['a', 'b', 'c'].map((x) => call(x, 'git.create_branch', { repo, branch: `mcp-side-${x}` })));
      return sessions.end(sessionId, 'closed', 'deploy-bot');
    },
    expect: { reason: 'closed', status: 'succeeded', compensated: [] },
  },
];

async function record(stack: Stack, sessions: AgentSessions, scenario: Scenario, tag: string) {
  const { repo, cleanup } = makeRepo();
  try {
    const agent = stack.airlock.directory.agent('deploy-bot')!;
    const sessionId = await sessions.start(agent, undefined, historyJobId(scenario.name));
    const call = async (callId: string, action: string, input: Record<string, unknown>) => {
      const step = sessionStep(stack.registry.get(action)!, input, stack.airlock.config.toolQueues);
      const outcome = await sessions.call(sessionId, callId, step, { waitMs: 60_000 });
      if (!outcome.done) throw new Error(`${action} did not finish in time`);
      return outcome.result;
    };
    const end = await scenario.drive({ stack, sessions, sessionId, repo, call });
    const handle = stack.client.workflow.getHandle(sessionId);
    await handle.result();
    const { reason, status, compensated } = scenario.expect;
    if (
      end.reason !== reason ||
      end.status !== status ||
      JSON.stringify(end.compensated) !== JSON.stringify(compensated)
    )
      throw new Error(`${scenario.name} ended ${JSON.stringify(end)}; expected ${reason}, ${status}, [${compensated}]`);
    const { out, events } = await saveHistory(handle, scenario.name, tag);
    console.log(`recorded ${out} (${events} events)`);
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new Error(`${scenario.name}: ${err.cause?.message ?? err}`);
    throw err;
  } finally {
    cleanup();
  }
}

async function main() {
  const tag = recordingTag(`npm run record-session-histories -- <tag> [${SCENARIOS.map((s) => s.name).join(' ')}]`);
  const only = process.argv.slice(3);
  const unknown = only.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`no scenario ${unknown.join(', ')}`);
  const stack = await startStack({
    config: loadConfig({
      ...process.env,
      AIRLOCK_TASK_QUEUE: 'record-histories',
      AIRLOCK_DATABASE_URL: 'memory:',
      AIRLOCK_POLICY_FILE: fixture('policy-mcp.yaml'),
      AIRLOCK_PEOPLE_FILE: fixture('people-mcp.yaml'),
      AIRLOCK_ATTESTATION_KEY: testAttestationKeyPem,
    }),
    persistent: false,
  });
  const sessions = new AgentSessions({
    client: stack.client,
    taskQueue: stack.taskQueue,
    freeze: stack.freeze,
    attestationKeys,
  });
  try {
    for (const scenario of SCENARIOS) {
      if (!only.length || only.includes(scenario.name)) await record(stack, sessions, scenario, tag);
    }
  } finally {
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
