/**
 * Helpers for approval tests: the fixture directory, a channel that records what it is told, polling, and voting as
 * the API channel would (attested with the tests' key).
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { ApprovalChannel } from '../../approvals/channel';
import { deliverVote } from '../../approvals/deliver';
import { loadDirectory } from '../../src/people';
import { jobStateQuery } from '../../workflows/messages';
import type { ApprovalRequest } from '../../src/core/approval';
import type { JobState } from '../../src/core/job';
import { testAttestor } from './attestation';
import { fixture } from './temporal';
import { eventually } from './wait';

export const directory = loadDirectory(fixture('people.yaml'));

/** An ApprovalChannel that keeps every call, so tests can count what channels were told. */
export function recordingChannel() {
  const events: { event: string; requestId: string; status: string; groups: string[]; votes: number }[] = [];
  const channel: ApprovalChannel = {
    name: 'recorder',
    announce: async (r, event) =>
      void events.push({ event, requestId: r.id, status: r.status, groups: r.groups, votes: r.votes.length }),
    update: async (r) =>
      void events.push({ event: 'update', requestId: r.id, status: r.status, groups: r.groups, votes: r.votes.length }),
  };
  return { channel, events };
}

export async function waitForState(
  handle: WorkflowHandle,
  check: (s: JobState) => boolean,
  ms = 30_000,
): Promise<JobState> {
  return eventually(
    async () => {
      const state = await handle.query(jobStateQuery);
      return check(state) && state;
    },
    'the job state to match',
    ms,
  );
}

export async function pendingRequest(handle: WorkflowHandle): Promise<ApprovalRequest> {
  const state = await waitForState(handle, (s) => s.approvals.some((a) => a.status === 'pending'));
  return state.approvals.find((a) => a.status === 'pending')!;
}

export function vote(
  client: Client,
  who: string,
  requestId: string,
  decision: 'approve' | 'reject',
  extra: { comment?: string; digest?: string } = {},
) {
  return deliverVote(client, testAttestor, {
    person: directory.person(who)!,
    requestId,
    decision,
    channel: 'api',
    channelIdentity: `token:test-${who}`,
    ...extra,
  });
}
