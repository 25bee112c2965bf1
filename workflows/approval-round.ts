/**
 * The approval round: ask the humans the policy names, tell the channels about each vote as it arrives, escalate
 * when nobody decided in time, and come back approved, or stop the job (rejected, timed out, abort-frozen).
 * The votes themselves arrive through the `decide` update, whose handler and validator are here too.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';
import type { ApprovalActivities, ApprovalEvent } from '../src/core/contracts';
import {
  RefusalCode,
  ApprovalStatus,
  type ApprovalRequest,
  type HeadMoved,
  type Vote,
  type VoteResult,
} from '../src/core/approval';
import { commentDigest, verifyAttestation } from '../src/core/attestation';
import { JobStatus, StepStatus, type JobInput, type JobState, type PlannedStep, type StepState } from '../src/core/job';
import { FailureType } from '../src/core/failures';
import type { PolicyDecision } from '../src/core/decision';
import { RETRY_BACKOFF, fail, now, type JobContext } from './context';
import { startNotifier } from './notifier';
import { headMovedSignal } from './messages';

/**
 * An approval on GitHub approves a head commit: when the pull request's head moves while a request is open
 * (headMovedSignal), the round closes as `superseded` and the request is asked again for the new head; a merge's
 * `sha` becomes the new head, so what is approved next, and merged, is that commit.
 */
export const GITHUB_HEAD_BINDING = 'github-head-binding';

/** The action whose input names the head commit it acts on (its `sha`). */
const MERGE_ACTION = 'github.merge_pull_request';

/** Before faults-v1: channel notifications retry for a while, on the decision path. */
const NOTIFY_OPTIONS = { startToCloseTimeout: '30s', retry: { ...RETRY_BACKOFF, maximumAttempts: 5 } } as const;

const channels = proxyActivities<ApprovalActivities>(NOTIFY_OPTIONS);

/** faults-v1: the request's audit events alone, a quick database write retried until it lands (as the job's own). */
const approvalAudit = proxyLocalActivities<ApprovalActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/**
 * What a request's change tells: before faults-v1, the audit and every channel, awaited (a channel down for long
 * failed the job); since, the audit awaited, the channels told in the background by the job's notifier.
 */
async function tell(ctx: JobContext, request: ApprovalRequest, event: ApprovalEvent): Promise<void> {
  if (!ctx.faults) {
    if (event === 'update') await channels['approvals.update'](request);
    else await channels['approvals.announce'](request, event);
    return;
  }
  await approvalAudit['approvals.record'](request, event);
  ctx.notifier ??= await startNotifier(ctx.jobId);
  ctx.notifier.notify(request, event);
}

/**
 * Asks humans whether `step` may run with `resolved` as its input. Resolves when approved (or when an abort-freeze
 * closed the request and was lifted meanwhile, or the pull request's head moved: the step is then decided again, a
 * merge at the new head); throws when rejected, timed out or abort-frozen.
 */
export async function askHumans(
  ctx: JobContext,
  step: PlannedStep,
  stepState: StepState,
  resolved: Record<string, unknown>,
  decision: PolicyDecision,
  /** A request of its own besides the step's (the "did it act?" question, faults-v1). */
  requestId = `${ctx.jobId}:${step.id}`,
): Promise<void> {
  const { jobId, input, state, undo, setStatus, remainingMs } = ctx;
  const req = decision.approval!;
  // Runs of generation 2 have it without asking (context.ts).
  const headBinding = ctx.generation2 || patched(GITHUB_HEAD_BINDING);
  if (headBinding) setHandler(headMovedSignal, (moved) => headMoved(state, moved));
  const previous = state.approvals.find((r) => r.id === requestId);
  const headSha = headBinding
    ? step.action === MERGE_ACTION && typeof resolved.sha === 'string'
      ? resolved.sha
      : previous?.supersededBy
    : undefined;
  const requestedAt = Date.now();
  const request: ApprovalRequest = {
    id: requestId,
    jobId,
    stepId: step.id,
    title: input.title,
    agent: input.agent,
    requester: input.requester,
    ...(input.caller ? { caller: input.caller } : {}),
    // Channels find where to ask from it (GitHub: context.repo and context.pr); not part of what is decided.
    ...(input.context && Object.keys(input.context).length ? { context: input.context } : {}),
    action: step.action,
    risk: step.risk,
    input: resolved,
    inputDigest: decision.inputDigest,
    policyHash: decision.policyHash,
    ruleId: decision.ruleId,
    reason: decision.reason,
    groups: req.groups,
    quorum: req.quorum,
    channels: req.channels,
    status: ApprovalStatus.Pending,
    votes: [],
    requestedAt: new Date(requestedAt).toISOString(),
    deadline: new Date(requestedAt + req.timeoutMs).toISOString(),
    escalated: false,
    rollbackPlan: [...undo]
      .reverse()
      .map((u) => ({ stepId: u.step.id, action: u.step.action, compensation: u.step.compensation! })),
    ...(input.retryOf ? { retryOf: input.retryOf } : {}),
    ...(headSha ? { headSha } : {}),
  };
  // A request asked again (policy changed since the approval) replaces the closed one under the same id.
  state.approvals = [...state.approvals.filter((r) => r.id !== request.id), request];
  stepState.status = StepStatus.AwaitingApproval;
  setStatus(JobStatus.AwaitingApproval);
  await tell(ctx, request, 'requested');

  const closed = () => request.status !== ApprovalStatus.Pending || state.frozen?.mode === 'abort' || !!ctx.closing?.();
  let told = 0;
  /**
   * Waits until closed or timed out; tells the channels (and the audit) about each vote as it arrives. Since faults-v1
   * the timeout runs from `from` (when the request was made), whatever telling took.
   */
  const waitForDecision = async (timeoutMs: number, from: number) => {
    // The job's deadline caps the wait either way (its end, not a span measured from a later moment).
    const until = ctx.faults
      ? Math.min(from + timeoutMs, Date.now() + remainingMs())
      : Date.now() + Math.min(timeoutMs, remainingMs());
    for (;;) {
      const woke = await condition(() => closed() || request.votes.length > told, Math.max(until - Date.now(), 1));
      if (!woke) return false;
      if (closed()) return true;
      told = request.votes.length;
      await tell(ctx, request, 'update');
    }
  };
  let decided: boolean;
  try {
    decided = await waitForDecision(req.timeoutMs, requestedAt);
    if (!decided && req.escalation && remainingMs() > 0) {
      const escalatedAt = Date.now();
      request.escalated = true;
      request.groups = req.escalation.groups;
      request.quorum = req.escalation.quorum;
      request.deadline = new Date(escalatedAt + req.escalation.timeoutMs).toISOString();
      await tell(ctx, request, 'escalated');
      decided = await waitForDecision(req.escalation.timeoutMs, escalatedAt);
    }
  } catch (err) {
    // faults-v1: a job cancelled while waiting closes its request everywhere (no live buttons on a dead job).
    if (!ctx.faults || !isCancellation(err) || request.status !== ApprovalStatus.Pending) throw err;
    request.status = ApprovalStatus.Cancelled;
    request.closedAt = now();
    stepState.status = StepStatus.Pending;
    await CancellationScope.nonCancellable(() => tell(ctx, request, 'update'));
    throw err;
  }
  if (!decided) {
    request.status = ApprovalStatus.TimedOut;
  } else if (request.status === ApprovalStatus.Pending) {
    request.status = ApprovalStatus.Cancelled; // an abort-freeze arrived while waiting, or the session is ending
  }
  request.closedAt = now();
  await tell(ctx, request, 'update');

  switch (request.status) {
    case ApprovalStatus.Superseded:
      // Asked again by the step loop: the policy decides on the new head's input, and a new round is announced.
      if (step.action === MERGE_ACTION && typeof resolved.sha === 'string') resolved.sha = request.supersededBy!;
      stepState.status = StepStatus.Pending;
      setStatus(JobStatus.Running);
      return;
    case ApprovalStatus.Approved:
      stepState.status = StepStatus.Pending;
      setStatus(JobStatus.Running);
      return;
    case ApprovalStatus.Rejected: {
      stepState.status = StepStatus.Rejected;
      const no = request.votes.find((v) => v.decision === 'reject')!;
      throw fail(
        FailureType.ApprovalRejected,
        `${no.approver} rejected ${request.id} via ${no.channel}${no.comment ? `: ${no.comment}` : ''}`,
        no,
      );
    }
    case ApprovalStatus.TimedOut:
      stepState.status = StepStatus.Rejected;
      ctx.checkDeadline(`approval of ${step.id}`);
      throw fail(
        FailureType.ApprovalTimedOut,
        `no decision on ${request.id} in time${request.escalated ? ', even after escalating to ' + request.groups.join(', ') : ''}`,
      );
    default:
      await ctx.honourFreeze();
  }
}

/** github-head-binding: a new head on the pull request of an open request closes its round as superseded. */
function headMoved(state: JobState, { requestId, headSha }: HeadMoved): void {
  const request = state.approvals.find((r) => r.id === requestId && r.status === ApprovalStatus.Pending);
  if (!request || request.headSha === headSha) return;
  request.status = ApprovalStatus.Superseded;
  request.supersededBy = headSha;
}

/** The `decide` update's handler: records an accepted vote; a reject or reaching quorum closes the request. */
export function recordVote(state: JobState, vote: Vote): VoteResult {
  // The validator (skipped on replay, where history already says the vote was accepted) made sure it is open.
  const request = state.approvals.find((r) => r.id === vote.requestId && r.status === ApprovalStatus.Pending)!;
  request.votes.push({ ...vote, at: now() });
  const approvals = countApprovals(request);
  if (vote.decision === 'reject') request.status = ApprovalStatus.Rejected;
  else if (approvals >= request.quorum) request.status = ApprovalStatus.Approved;
  return { requestId: request.id, status: request.status, approvals, quorum: request.quorum };
}

/** How far a channel's clock may be from the workflow's when it signs an attestation. */
export const ATTESTATION_CLOCK_SKEW_MS = 60_000;

/**
 * The `decide` update's validator: refuses a vote that must not count (ApprovalRefused, with a RefusalCode). Who
 * voted, and in which groups, comes only from the attestation, verified against the channel keys the job was
 * started with: a vote sent straight to the workflow without a channel's signature is refused.
 */
export function validateVote(
  state: JobState,
  input: Pick<JobInput, 'agent' | 'requester' | 'attestationKeys'>,
  vote: Vote,
): void {
  const request = state.approvals.find((r) => r.id === vote.requestId);
  if (!request) refuse(RefusalCode.UnknownRequest, `no approval request ${vote.requestId} in job ${state.jobId}`);
  if (request.status !== ApprovalStatus.Pending)
    refuse(RefusalCode.RequestClosed, `request ${request.id} is already ${request.status}`);

  const check = verifyAttestation(vote.attestation, input.attestationKeys ?? []);
  if (!check.ok) refuse(RefusalCode.InvalidAttestation, check.reason);
  const attested = check.payload;
  const invalid = (why: string): never => refuse(RefusalCode.InvalidAttestation, `the attestation ${why}`);
  if (attested.requestId !== request.id) invalid(`is for request ${attested.requestId}, not ${request.id}`);
  if (attested.policyHash !== request.policyHash)
    invalid(`is for policy ${attested.policyHash}, but the request was asked under ${request.policyHash}`);
  const at = Date.parse(attested.at);
  if (!(at >= Date.parse(request.requestedAt) - ATTESTATION_CLOCK_SKEW_MS))
    invalid(`was signed at ${attested.at}, before the request was asked (${request.requestedAt})`);
  if (!(at <= Date.now() + ATTESTATION_CLOCK_SKEW_MS)) invalid(`was signed at ${attested.at}, in the future`);
  // The plain fields are what the handler records: they must say what the channel signed.
  const same =
    vote.approver === attested.person &&
    vote.channel === attested.channel &&
    vote.decision === attested.decision &&
    vote.digest === attested.digest &&
    commentDigest(vote.comment ?? undefined) === attested.commentDigest &&
    vote.approverGroups.length === attested.groups.length &&
    vote.approverGroups.every((g, i) => g === attested.groups[i]);
  if (!same) invalid('says something else than the vote it came with');

  const person = attested.person;
  if (person === input.agent)
    refuse(RefusalCode.SelfApproval, `${person} is the job's agent: agents never approve their own jobs`);
  if (person === input.requester)
    refuse(RefusalCode.SelfApproval, `${person} requested this job and cannot approve it`);
  if (!attested.groups.some((g) => request.groups.includes(g))) {
    refuse(RefusalCode.NotInGroup, `${person} is not in ${request.groups.join(' or ')}`);
  }
  if (request.votes.some((v) => v.approver === person))
    refuse(RefusalCode.AlreadyVoted, `${person} has already voted on ${request.id}`);
  if (attested.digest !== request.inputDigest) {
    refuse(
      RefusalCode.DigestMismatch,
      `the vote is for input ${attested.digest}, but the request is for ${request.inputDigest}: look again`,
    );
  }
}

/** Approvals that count: distinct people in the request's current groups (escalation may change the groups). */
function countApprovals(request: ApprovalRequest): number {
  const yes = request.votes.filter(
    (v) => v.decision === 'approve' && v.approverGroups.some((g) => request.groups.includes(g)),
  );
  return new Set(yes.map((v) => v.approver)).size;
}

function refuse(code: RefusalCode, message: string): never {
  throw ApplicationFailure.create({
    type: FailureType.ApprovalRefused,
    message,
    nonRetryable: true,
    details: [{ code }],
  });
}
