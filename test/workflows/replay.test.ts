/**
 * Recorded histories of the example jobs and of the approval paths replay against today's workflow code. A change to
 * workflows/ that would break running jobs fails here; such a change needs `patched()` (or a new workflow type), not
 * new recordings.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { verifyAttestation } from '../../src/core/attestation';
import type { JobInput } from '../../src/core/job';
import { workflowBundle } from '../helpers/temporal';
import { replayIdOf } from '../helpers/histories';

const dir = join(__dirname, '..', 'histories');
const COMPENSATIONS = ['git.commit.compensate', 'git.create_branch.compensate'];

/**
 * What each recording of an approval path holds: the votes (`decide` updates accepted), the signals, how often humans
 * were asked (approvals.announce: requested, escalated, asked again), approval timeouts that fired, the compensations
 * run, and how the job ended (the failure's type).
 */
const APPROVAL_PATHS: Record<string, HistorySummary> = {
  'approved-quorum.decide-in-action.json': {
    votes: ['alice approve', 'bob approve'],
    signals: [],
    asked: 1,
    timeouts: 0,
    compensations: [],
    end: 'completed',
  },
  'rejected.decide-in-action.json': {
    votes: ['alice approve', 'bob reject'],
    signals: [],
    asked: 1,
    timeouts: 0,
    compensations: COMPENSATIONS,
    end: 'ApprovalRejected',
  },
  // Since votes are attestations: the job's input holds the channel keys, each vote a channel's signed statement.
  'approved-quorum.attested.json': {
    votes: ['alice approve', 'bob approve'],
    signals: [],
    asked: 1,
    timeouts: 0,
    compensations: [],
    end: 'completed',
  },
  'rejected.attested.json': {
    votes: ['alice approve', 'bob reject'],
    signals: [],
    asked: 1,
    timeouts: 0,
    compensations: COMPENSATIONS,
    end: 'ApprovalRejected',
  },
  'escalated-approved.decide-in-action.json': {
    votes: ['alice approve', 'carol approve'],
    signals: [],
    asked: 2,
    timeouts: 1,
    compensations: [],
    end: 'completed',
  },
  'escalated-timed-out.decide-in-action.json': {
    votes: [],
    signals: [],
    asked: 2,
    timeouts: 2,
    compensations: COMPENSATIONS,
    end: 'ApprovalTimedOut',
  },
  'frozen-paused.decide-in-action.json': {
    votes: ['alice approve', 'bob approve'],
    signals: ['freeze pause', 'unfreeze'],
    asked: 1,
    timeouts: 0,
    compensations: [],
    end: 'completed',
  },
  'frozen-aborted.decide-in-action.json': {
    votes: ['alice approve'],
    signals: ['freeze abort'],
    asked: 1,
    timeouts: 0,
    compensations: COMPENSATIONS,
    end: 'JobFrozen',
  },
  'reasked-after-policy-edit.decide-in-action.json': {
    votes: ['alice approve', 'bob approve', 'alice approve'],
    signals: [],
    asked: 2,
    timeouts: 0,
    compensations: [],
    end: 'completed',
  },
  'cancelled-awaiting-approval.decide-in-action.json': {
    votes: ['alice approve'],
    signals: [],
    asked: 1,
    timeouts: 0,
    compensations: COMPENSATIONS,
    end: 'canceled',
  },
  'compensation-failed.decide-in-action.json': {
    votes: ['bob reject'],
    signals: [],
    asked: 1,
    timeouts: 0,
    compensations: COMPENSATIONS,
    end: 'CompensationFailed',
  },
};

/**
 * Since `faults-v1` the same paths, with channels told in the background (humans asked = `notify` signals to the
 * job's notifier), and a cancelled job closing its request.
 */
const FAULTS_V1_PATHS: Record<string, HistorySummary> = Object.fromEntries(
  Object.entries(APPROVAL_PATHS).map(([file, summary]) => [file.replace('.decide-in-action.', '.faults-v1.'), summary]),
);

/**
 * What each recording of an agent session holds: its updates in order (tool calls, votes, the end), how often humans
 * were asked (`notify` signals to the session's notifier), the compensations run, and how it ended.
 */
const SESSION_PATHS: Record<string, SessionSummary> = {
  'session-rollback.session.json': {
    updates: ['callTool', 'callTool', 'callTool', 'decide', 'endSession'],
    asked: 1,
    compensations: ['git.merge.compensate', 'git.commit.compensate', 'git.create_branch.compensate'],
    end: 'completed',
  },
  'session-closed.session.json': {
    updates: ['callTool', 'callTool', 'callTool', 'decide', 'endSession'],
    asked: 1,
    compensations: [],
    end: 'completed',
  },
};
// Since `session-budget-lock` (workflows/session.ts): the same sessions, and calls sent side by side acting one at a
// time (the agent, deploy-bot, has a budget).
Object.assign(SESSION_PATHS, {
  ...Object.fromEntries(
    Object.entries(SESSION_PATHS).map(([file, summary]) => [file.replace('.session.', '.budget-lock.'), summary]),
  ),
  'session-side-by-side.budget-lock.json': {
    updates: ['callTool', 'callTool', 'callTool', 'endSession'],
    asked: 0,
    compensations: [],
    end: 'completed',
  },
});

const histories = readdirSync(dir).filter((f) => f.endsWith('.json'));
const load = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8'));

test('there are recorded histories to replay', () => {
  expect(histories).toEqual(
    expect.arrayContaining([
      // Before the decision moved into the action's activity (a local activity decided first).
      'ship-version-bump.json',
      'failing-release-check.json',
      // Since the `decide-in-action` patch.
      'ship-version-bump.decide-in-action.json',
      'failing-release-check.decide-in-action.json',
      // The approval paths (scripts/record-approval-histories.ts), since `decide-in-action`.
      ...Object.keys(APPROVAL_PATHS),
      // Since `faults-v1` (workflows/job.ts FAULTS_V1).
      'ship-version-bump.faults-v1.json',
      'failing-release-check.faults-v1.json',
      ...Object.keys(FAULTS_V1_PATHS),
      // Agent sessions (workflows/session.ts, scripts/record-session-histories.ts).
      ...Object.keys(SESSION_PATHS),
      // Since `github-head-binding`: a push to the PR supersedes the open round (test/approvals/github).
      'github-head-moved.github-head-binding.json',
    ]),
  );
});

// Recorded as job `history-<name>` (scripts/record-histories.ts), in `<name>[.<tag>].json`, or saved from a real job
// by `airlock replay --save` as `saved--<jobId>.json`: ids derived from the job id must match on replay.
const jobIdOf = replayIdOf;

test.each(histories)('%s replays with the current workflow code', async (file) => {
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, load(file), jobIdOf(file));
});

interface Payload {
  data?: string;
}
interface HistoryEvent {
  activityTaskScheduledEventAttributes?: { activityType: { name: string } };
  workflowExecutionUpdateAcceptedEventAttributes?: {
    acceptedRequest: { input: { name: string; args: { payloads: Payload[] } } };
  };
  workflowExecutionSignaledEventAttributes?: { signalName: string; input?: { payloads: Payload[] } };
  signalExternalWorkflowExecutionInitiatedEventAttributes?: { signalName: string; input?: { payloads: Payload[] } };
  timerFiredEventAttributes?: object;
  workflowExecutionCompletedEventAttributes?: object;
  workflowExecutionCanceledEventAttributes?: object;
  workflowExecutionFailedEventAttributes?: { failure: { applicationFailureInfo?: { type?: string } } };
}
interface HistorySummary {
  votes: string[];
  signals: string[];
  asked: number;
  timeouts: number;
  compensations: string[];
  end?: string;
}

const decode = (p: Payload) => JSON.parse(Buffer.from(p.data ?? '', 'base64').toString('utf8'));
const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');
const votesIn = (events: HistoryEvent[]) =>
  events.flatMap((e) => {
    const update = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest.input;
    return update?.name === 'decide' ? [update.args.payloads[0]] : [];
  });

function summarize(events: HistoryEvent[]): HistorySummary {
  const activities = events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType.name ?? []);
  const closed = events[events.length - 1];
  return {
    votes: votesIn(events).map((p) => `${decode(p).approver} ${decode(p).decision}`),
    signals: events.flatMap((e) => {
      const s = e.workflowExecutionSignaledEventAttributes;
      return s
        ? [[s.signalName, s.signalName === 'freeze' ? decode(s.input!.payloads[0]).mode : ''].join(' ').trim()]
        : [];
    }),
    asked:
      activities.filter((a) => a === 'approvals.announce').length +
      events.filter((e) => {
        const s = e.signalExternalWorkflowExecutionInitiatedEventAttributes;
        return s?.signalName === 'notify' && decode(s.input!.payloads[0]).event !== 'update';
      }).length,
    timeouts: events.filter((e) => e.timerFiredEventAttributes).length,
    compensations: activities.filter((a) => a.endsWith('.compensate')),
    end: closed.workflowExecutionCompletedEventAttributes
      ? 'completed'
      : closed.workflowExecutionCanceledEventAttributes
        ? 'canceled'
        : closed.workflowExecutionFailedEventAttributes?.failure.applicationFailureInfo?.type,
  };
}

interface SessionSummary {
  updates: string[];
  asked: number;
  compensations: string[];
  end?: string;
}

test.each(Object.keys(SESSION_PATHS))('%s holds the calls, votes and compensations of its session', (file) => {
  const events: HistoryEvent[] = load(file).events;
  const { asked, compensations, end } = summarize(events);
  const updates = events.flatMap(
    (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest.input.name ?? [],
  );
  expect({ updates, asked, compensations, end }).toEqual(SESSION_PATHS[file]);
});

const PATHS = { ...APPROVAL_PATHS, ...FAULTS_V1_PATHS };
test.each(Object.keys(PATHS))('%s holds the votes, signals and timeouts of its path', (file) => {
  expect(summarize(load(file).events)).toEqual(PATHS[file]);
});

test.each(Object.keys(APPROVAL_PATHS).filter((f) => f.includes('.attested.')))(
  "%s: every vote carries an attestation that verifies against the job's channel keys",
  (file) => {
    const events: (HistoryEvent & {
      workflowExecutionStartedEventAttributes?: { input: { payloads: Payload[] } };
    })[] = load(file).events;
    const input: JobInput = decode(events[0].workflowExecutionStartedEventAttributes!.input.payloads[0]);
    expect(input.attestationKeys?.length).toBeGreaterThan(0);
    for (const p of votesIn(events)) {
      const vote = decode(p);
      expect(verifyAttestation(vote.attestation, input.attestationKeys!)).toMatchObject({
        ok: true,
        payload: { person: vote.approver, decision: vote.decision },
      });
    }
  },
);

// The `decide` validator does not run on replay (history says the vote was accepted), but its handler must: a vote
// recorded differently, or a signal, sends the replayed job another way, and replay notices.
test('votes are replayed through the decide handler: a reject replayed as an approve merges instead of undoing', async () => {
  const file = 'rejected.decide-in-action.json';
  const history = load(file);
  const reject = votesIn(history.events).find((p) => decode(p).decision === 'reject')!;
  reject.data = encode({ ...decode(reject), decision: 'approve' });
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, jobIdOf(file)),
  ).rejects.toBeInstanceOf(DeterminismViolationError);
});

test('signals are replayed: an abort-freeze replayed as a pause does not undo the job', async () => {
  const file = 'frozen-aborted.decide-in-action.json';
  const history = load(file);
  const signal = history.events.find((e: HistoryEvent) => e.workflowExecutionSignaledEventAttributes)
    .workflowExecutionSignaledEventAttributes.input.payloads[0];
  signal.data = encode({ ...decode(signal), mode: 'pause' });
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, jobIdOf(file)),
  ).rejects.toBeInstanceOf(DeterminismViolationError);
});

test('a history whose recorded commands differ from the code fails with a determinism error', async () => {
  const history = load('failing-release-check.json');
  const scheduled = history.events.find(
    (e: { activityTaskScheduledEventAttributes?: { activityType: { name: string } } }) =>
      e.activityTaskScheduledEventAttributes?.activityType.name === 'git.create_branch',
  );
  // As if an older version of the workflow had merged before branching.
  scheduled.activityTaskScheduledEventAttributes.activityType.name = 'git.merge';
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, jobIdOf('failing-release-check.json')),
  ).rejects.toBeInstanceOf(DeterminismViolationError);
});
