/**
 * Queries, signals and updates of the job workflow, imported by every caller (CLI, API, approval channels).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { FreezeEntry, JobState, Vote, VoteResult } from './types';

/** The job's status, per-step status, decisions, approvals, outputs and compensations. Works on closed jobs too. */
export const jobStateQuery = defineQuery<JobState>('jobState');

/**
 * One approver's decision on an approval request. The validator is the one place decisions are checked: it refuses
 * (with an ApplicationFailure of type ApprovalRefused and a `code` detail) a person outside the request's groups,
 * the job's requester, a second vote by the same person, a closed or unknown request, or a vote for another input.
 * A refused vote leaves no trace in history.
 */
export const decideUpdate = defineUpdate<VoteResult, [Vote]>('decide');

/** A freeze (kill switch) reached this job: it stops before its next action. */
export const freezeSignal = defineSignal<[FreezeEntry]>('freeze');
/** A freeze was lifted (`agent` absent = the global one). */
export const unfreezeSignal = defineSignal<[{ agent?: string }]>('unfreeze');

/** Stable codes of a refused vote (details[0].code of the ApprovalRefused failure). */
export const RefusalCode = {
  UnknownRequest: 'unknown_request',
  RequestClosed: 'request_closed',
  SelfApproval: 'self_approval',
  NotInGroup: 'not_in_group',
  AlreadyVoted: 'already_voted',
  DigestMismatch: 'digest_mismatch',
  UnknownPerson: 'unknown_person',
} as const;
export type RefusalCode = (typeof RefusalCode)[keyof typeof RefusalCode];
