/**
 * Delivering a human's decision: every channel (HTTP API and the CLI through it, Slack, GitHub) authenticates the
 * human, resolves them to a person of the directory, then calls deliverVote, which has the channel's Attestor sign
 * the vote. The checks themselves live in one place, the workflow's `decide` validator, which believes only that
 * signature.
 */
import { randomUUID } from 'node:crypto';
import { isGrpcServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { google } from '@temporalio/proto';
import { type AuditSink, AuditEventType, besideSealedTrail } from '../src/core/audit';
import { commentDigest, type Attestor } from '../src/core/attestation';
import type { Person } from '../src/core/people';
import { decideUpdate, jobStateQuery } from '../workflows/messages';
import { RefusalCode, ApprovalStatus, type ApprovalRequest, type VoteResult } from '../src/core/approval';
import { jobsQuery } from '../src/core/jobs-query';
import { FailureType } from '../src/core/failures';
import { JobStatus } from '../src/core/job';

export class ApprovalRefusedError extends Error {
  constructor(
    readonly code: RefusalCode,
    message: string,
  ) {
    super(message);
    this.name = 'ApprovalRefusedError';
  }
}

/** `<jobId>:<stepId>`; step ids never contain ':', job ids may. */
export function parseRequestId(requestId: string): { jobId: string; stepId: string } {
  const i = requestId.lastIndexOf(':');
  if (i <= 0)
    throw new ApprovalRefusedError(
      RefusalCode.UnknownRequest,
      `"${requestId}" is not an approval request id (<jobId>:<stepId>)`,
    );
  return { jobId: requestId.slice(0, i), stepId: requestId.slice(i + 1) };
}

/**
 * How long a vote keeps being offered to a job that is not ready for it. The server refuses queries and updates while
 * the job's workflow task keeps failing (a worker SIGKILLed with the task in hand, tasks timing out on an overloaded
 * worker), and aborts the updates it had sent with such a task; it recovers when a worker completes the task. It also
 * refuses an update while the workflow has as many in flight as it holds (10 by default: an agent session's calls
 * waiting for people are updates in flight); one of them ending makes room. The client retries RESOURCE_EXHAUSTED
 * itself for about 40 s before this loop sees it, so a vote refused that way can be offered for up to about 100 s.
 */
export const NOT_READY_RETRY_MS = 60_000;

const RESOURCE_EXHAUSTED = 8;
const FAILED_PRECONDITION = 9;

/**
 * The server's WorkflowNotReady (FAILED_PRECONDITION), or RESOURCE_EXHAUSTED (too many updates in flight, a rate
 * limit), on the error or its cause: nothing was applied; ask again.
 */
export function isRefusedForNow(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (isGrpcServiceError(e) && e.code === RESOURCE_EXHAUSTED) return true;
    if (!isGrpcServiceError(e) || e.code !== FAILED_PRECONDITION) continue;
    const bin = e.metadata?.get('grpc-status-details-bin')[0];
    if (!(bin instanceof Uint8Array)) continue;
    const details = google.rpc.Status.decode(bin).details;
    if (details.some((d) => d.type_url?.endsWith('/temporal.api.errordetails.v1.WorkflowNotReadyFailure'))) return true;
  }
  return false;
}

/** `call`, again while the job is not ready, with backoff up to 2 s, until `deadline`; then its last error. */
async function whenReady<T>(call: () => Promise<T>, deadline: number): Promise<T> {
  for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
    try {
      return await call();
    } catch (err) {
      if (!isRefusedForNow(err) || Date.now() + wait > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, wait));
  }
}

export async function findRequest(client: Client, requestId: string): Promise<ApprovalRequest> {
  const { jobId } = parseRequestId(requestId);
  try {
    const state = await client.workflow.getHandle(jobId).query(jobStateQuery);
    const request = state.approvals.find((r) => r.id === requestId);
    if (!request) throw new ApprovalRefusedError(RefusalCode.UnknownRequest, `no approval request ${requestId}`);
    return request;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new ApprovalRefusedError(RefusalCode.UnknownRequest, `no job ${jobId}`);
    throw err;
  }
}

export interface DeliverVote {
  person: Person;
  requestId: string;
  decision: 'approve' | 'reject';
  channel: string;
  /** The identity the channel authenticated: `token:<sha256 prefix>`, `slack:U…`, `github:<login>`. */
  channelIdentity: string;
  comment?: string;
  /** The input digest the person was shown. Omitted: the one pending now (the caller showed it). */
  digest?: string;
}

/**
 * Delivers one decision; resolves with the request's state after it, or throws ApprovalRefusedError. A refused vote
 * leaves no trace in the workflow, so it is written to the audit trail here: who tried what, and why it was refused.
 * A job that has ended has a sealed, signed trail: its refusals are recorded beside it (audit_refusals) instead.
 * A job whose workflow task is failing is asked again, as the same update, for up to NOT_READY_RETRY_MS.
 */
export async function deliverVote(
  client: Client,
  attestor: Attestor,
  vote: DeliverVote,
  audit?: AuditSink,
  requestId?: string,
): Promise<VoteResult> {
  try {
    return await deliver(client, attestor, vote);
  } catch (err) {
    if (audit && err instanceof ApprovalRefusedError && err.code !== RefusalCode.UnknownRequest) {
      const event = {
        jobId: parseRequestId(vote.requestId).jobId,
        key: `${AuditEventType.ApprovalRefused}:${randomUUID()}`,
        type: AuditEventType.ApprovalRefused,
        actor: vote.person.id,
        requestId,
        data: {
          requestId: vote.requestId,
          decision: vote.decision,
          channel: vote.channel,
          code: err.code,
          reason: err.message,
        },
      };
      await besideSealedTrail(audit).append(event);
    }
    throw err;
  }
}

async function deliver(client: Client, attestor: Attestor, vote: DeliverVote): Promise<VoteResult> {
  const { jobId } = parseRequestId(vote.requestId);
  const deadline = Date.now() + NOT_READY_RETRY_MS;
  // The request as it stands: the policy version it was asked under, and the digest when the caller gave none.
  const request = await whenReady(() => findRequest(client, vote.requestId), deadline);
  const digest = vote.digest ?? request.inputDigest;
  // Also the update's id: the same vote offered again is the same update, which the server answers once.
  const nonce = randomUUID();
  const attestation = attestor.attest({
    person: vote.person.id,
    groups: [...vote.person.groups],
    channel: vote.channel,
    channelIdentity: vote.channelIdentity,
    requestId: vote.requestId,
    digest,
    policyHash: request.policyHash,
    decision: vote.decision,
    ...(vote.comment !== undefined ? { commentDigest: commentDigest(vote.comment) } : {}),
    at: new Date().toISOString(),
    nonce,
  });
  try {
    return await whenReady(
      () =>
        client.workflow.getHandle(jobId).executeUpdate(decideUpdate, {
          updateId: nonce,
          args: [
            {
              requestId: vote.requestId,
              approver: vote.person.id,
              approverGroups: [...vote.person.groups],
              channel: vote.channel,
              decision: vote.decision,
              ...(vote.comment !== undefined ? { comment: vote.comment } : {}),
              digest,
              attestation,
            },
          ],
        }),
      deadline,
    );
  } catch (err) {
    const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.type === FailureType.ApprovalRefused) {
      const code = (cause.details?.[0] as { code?: RefusalCode } | undefined)?.code ?? RefusalCode.RequestClosed;
      throw new ApprovalRefusedError(code, cause.message);
    }
    // The job ended between reading the request and voting.
    if (err instanceof WorkflowNotFoundError)
      throw new ApprovalRefusedError(RefusalCode.RequestClosed, `job ${jobId} has ended`);
    // The server failed the update itself, without the job's answer: the job closed while the vote waited (as a
    // second click on a request the first one closed may: "the Workflow completed before", "not processed by the
    // worker"). Nothing was applied; say so when the job has ended, rather than pass the server's words on.
    if (err instanceof WorkflowUpdateFailedError && (await hasEnded(client, jobId)))
      throw new ApprovalRefusedError(RefusalCode.RequestClosed, `job ${jobId} has ended`);
    throw err;
  }
}

/** Whether the job's workflow is closed (gone counts as closed). */
async function hasEnded(client: Client, jobId: string): Promise<boolean> {
  try {
    return (await client.workflow.getHandle(jobId).describe()).status.name !== 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return true;
    throw err;
  }
}

/** Open approval requests, from the jobs visibility lists as awaiting approval. */
export async function listPendingApprovals(client: Client): Promise<ApprovalRequest[]> {
  const out: ApprovalRequest[] = [];
  for await (const wf of client.workflow.list({
    query: jobsQuery({ status: JobStatus.AwaitingApproval }),
  })) {
    try {
      const state = await client.workflow.getHandle(wf.workflowId).query(jobStateQuery);
      out.push(...state.approvals.filter((r) => r.status === ApprovalStatus.Pending));
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  return out;
}
