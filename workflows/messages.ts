/**
 * Queries, signals and updates of the job workflow, imported by every caller (CLI, API, approval channels).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { FreezeEntry } from '../src/core/decision';
import type { CallbackStatus, JobState } from '../src/core/job';
import type { HeadMoved, Vote, VoteResult } from '../src/core/approval';
import type { SessionCall, SessionCallResult, SessionEnd } from '../src/core/session';
import type { RepairState } from '../src/core/repair';

/** The job's status, per-step status, decisions, approvals, outputs and compensations. Works on closed jobs too. */
export const jobStateQuery = defineQuery<JobState>('jobState');

/**
 * One approver's decision on an approval request. The validator is the one place decisions are checked: it refuses
 * (with an ApplicationFailure of type ApprovalRefused and a `code` detail) a person outside the request's groups,
 * the job's requester, a second vote by the same person, a closed or unknown request, or a vote for another input.
 * A refused vote leaves no trace in history.
 */
export const decideUpdate = defineUpdate<VoteResult, [Vote]>('decide');

/**
 * github-head-binding: the pull request an open request is shown on has a new head commit. Votes so far were for the
 * old head: the round closes as superseded and is asked again for the new head. Sent by the GitHub webhook handler.
 */
export const headMovedSignal = defineSignal<[HeadMoved]>('headMoved');

/** A freeze (kill switch) reached this job: it stops before its next action. */
export const freezeSignal = defineSignal<[FreezeEntry]>('freeze');
/** A freeze was lifted (`agent` absent = the global one). */
export const unfreezeSignal = defineSignal<[{ agent?: string }]>('unfreeze');

/**
 * An agent's tool call in its session (workflows/session.ts): runs one step and answers with its output, or fails
 * with why it did not act (denied, rejected, timed out, over budget, the tool failed). Its update id is
 * `<session>/<call id>`, so a retried call acts once. Refused (no trace in history) once the session is ending.
 */
export const callToolUpdate = defineUpdate<SessionCallResult, [SessionCall]>('callTool');

/**
 * Ends an agent session: `closed` keeps what it did, `rollback` runs its compensations in reverse first. Answers
 * once the session has ended.
 */
export const endSessionUpdate = defineUpdate<SessionEnd, [{ reason: 'closed' | 'rollback'; by: string }]>('endSession');

/** Where a job's completion callback stands; asked of its delivery workflow, `<jobId>:callback` (faults-v1). */
export const callbackStatusQuery = defineQuery<CallbackStatus>('callbackStatus');

/** The id of the workflow delivering a job's callback. */
export const callbackWorkflowId = (jobId: string) => `${jobId}:callback`;

/** How a repair of a `compensation_failed` job stands; asked of `<jobId>:repair` (workflows/repair.ts). */
export const repairStateQuery = defineQuery<RepairState>('repairState');
