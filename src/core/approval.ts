/**
 * Approval requests and votes: what a channel renders, what a vote carries, why a vote is refused.
 * Pure types and `as const` enums: bundled into workflow code.
 */
import type { Attestation } from './attestation';
import type { RiskClass } from './decision';
import type { RetryOrigin } from './job';

export const ApprovalStatus = {
  Pending: 'pending',
  Approved: 'approved',
  Rejected: 'rejected',
  TimedOut: 'timed_out',
  Cancelled: 'cancelled',
  /** github-head-binding: the pull request's head moved while the request was open; it is asked again. */
  Superseded: 'superseded',
} as const;
export type ApprovalStatus = (typeof ApprovalStatus)[keyof typeof ApprovalStatus];

/**
 * A vote as delivered by a channel, after the channel resolved the human to a person of the directory. The plain
 * fields repeat what the attestation says (the validator refuses any difference); who voted is proven only by the
 * attestation. Votes recorded before attestations existed have none.
 */
export interface Vote {
  requestId: string;
  approver: string;
  approverGroups: string[];
  channel: string;
  decision: 'approve' | 'reject';
  comment?: string;
  /** The input digest the approver was shown; a vote for another digest is void. */
  digest: string;
  /** The channel's signed statement of this vote (src/core/attestation.ts). */
  attestation?: Attestation;
}

export interface RecordedVote extends Vote {
  at: string;
}

/** An approval request `<jobId>:<stepId>`, as channels render it and the `jobState` query shows it. */
export interface ApprovalRequest {
  id: string;
  jobId: string;
  stepId: string;
  title: string;
  agent: string;
  /** The person who asked for the job (or, when nobody was named, the calling system). Cannot approve it. */
  requester: string;
  /** The system that submitted the job over the API, when it was submitted that way. */
  caller?: string;
  /** The job's context, as the submitter gave it (channels read where to ask from it: GitHub's repo and pr). */
  context?: Record<string, unknown>;
  action: string;
  risk: RiskClass;
  input: Record<string, unknown>;
  inputDigest: string;
  policyHash: string;
  ruleId: string;
  reason?: string;
  groups: string[];
  quorum: number;
  channels: string[];
  status: ApprovalStatus;
  votes: RecordedVote[];
  requestedAt: string;
  deadline: string;
  escalated: boolean;
  /** What has been done and would be undone on rejection, in the order it would be undone. */
  rollbackPlan: { stepId: string; action: string; compensation: string }[];
  closedAt?: string;
  /** The job is a retry: of which job, how that one ended and why (approvers decide again, knowing it). */
  retryOf?: RetryOrigin;
  /**
   * github-head-binding: the pull request head commit this round approves (a merge's `sha`, or the head GitHub
   * reported when the round before was superseded). Votes count for this head only.
   */
  headSha?: string;
  /** The head the pull request moved to, which closed this round as superseded. */
  supersededBy?: string;
}

/** A pull request's head moved (the GitHub `pull_request` `synchronize` webhook): the request it names is re-asked. */
export interface HeadMoved {
  requestId: string;
  headSha: string;
}

/** Answer to a vote: the request's state after it. */
export interface VoteResult {
  requestId: string;
  status: ApprovalStatus;
  approvals: number;
  quorum: number;
}

/** Stable codes of a refused vote (details[0].code of the ApprovalRefused failure). */
export const RefusalCode = {
  UnknownRequest: 'unknown_request',
  RequestClosed: 'request_closed',
  SelfApproval: 'self_approval',
  NotInGroup: 'not_in_group',
  AlreadyVoted: 'already_voted',
  DigestMismatch: 'digest_mismatch',
  UnknownPerson: 'unknown_person',
  /** No attestation, an unknown key, a key of another channel, a bad signature, or attested fields that differ. */
  InvalidAttestation: 'invalid_attestation',
} as const;
export type RefusalCode = (typeof RefusalCode)[keyof typeof RefusalCode];
