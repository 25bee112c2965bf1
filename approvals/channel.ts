/**
 * Approval channels are pluggable: each renders a request for humans where they are (Slack, GitHub, a web page) and
 * keeps that rendering current. Decisions never come back through this interface: a channel turns a human's click
 * into a Vote and delivers it with deliverVote (approvals/deliver.ts), where the one checked path begins.
 */
import type { ApprovalRequest } from '../src/core/approval';
import { AuditEventType, type AuditSink } from '../src/core/audit';
import type { ApprovalActivities, ApprovalEvent } from '../src/core/contracts';
import { noMetrics, type ActivityMetrics } from '../src/core/metrics';

export interface ApprovalChannel {
  /** The name policies use in `channels:`. */
  readonly name: string;
  /**
   * A new request, or one escalated to other groups. Must be idempotent: it may be retried. `target` is what the
   * policy wrote after the channel's name (`slack:C0123` → `C0123`), if anything.
   */
  announce(request: ApprovalRequest, event: 'requested' | 'escalated', target?: string): Promise<void>;
  /** Votes arrived, or the request closed (approved, rejected, timed out, cancelled). Idempotent. */
  update(request: ApprovalRequest, target?: string): Promise<void>;
}

/**
 * The pull channel behind the CLI and the HTTP API: nothing is pushed; approvers list open requests
 * (`airlock approvals list`, `GET /v1/approvals`) and decide as themselves.
 */
export const programmaticChannel: ApprovalChannel = {
  name: 'api',
  announce: async () => undefined,
  update: async () => undefined,
};

/**
 * The web console (src/console) is a pull channel too: its inbox lists the open requests a person may decide, so a
 * policy may name `console` and nothing is pushed.
 */
export const consoleChannel: ApprovalChannel = { ...programmaticChannel, name: 'console' };

/** A request's round: the same id is asked again after a policy change, so events are keyed by id and round. */
const round = (r: ApprovalRequest) => `${r.id}@${r.requestedAt}`;

/**
 * Activities that record a request's life in the audit trail and tell every channel the request names; unknown
 * channel names are reported, not fatal.
 */
export function createApprovalActivities(
  channels: ApprovalChannel[],
  audit: AuditSink,
  { log = console.warn, metrics = noMetrics }: { log?: (msg: string) => void; metrics?: ActivityMetrics } = {},
): ApprovalActivities {
  const byName = new Map(channels.map((c) => [c.name, c]));
  const each = async (request: ApprovalRequest, fn: (c: ApprovalChannel, target?: string) => Promise<void>) => {
    for (const entry of request.channels) {
      const [name, target] = entry.split(/:(.*)/s);
      const channel = byName.get(name);
      if (!channel) {
        log(`approval ${request.id}: channel "${name}" is not configured on this worker`);
        continue;
      }
      await fn(channel, target || undefined);
    }
  };
  /** The audit part of announce/update: each event keyed, so a retry writes it once. */
  const record = async (request: ApprovalRequest, event: ApprovalEvent) => {
    if (event !== 'update') {
      const type = event === 'requested' ? AuditEventType.ApprovalRequested : AuditEventType.ApprovalEscalated;
      const { input: _input, votes: _votes, ...summary } = request;
      await audit.append({ jobId: request.jobId, key: `${type}:${round(request)}`, type, data: summary });
      return;
    }
    for (const vote of request.votes) {
      await audit.append({
        jobId: request.jobId,
        key: `${AuditEventType.ApprovalVote}:${round(request)}:${vote.approver}`,
        type: AuditEventType.ApprovalVote,
        actor: vote.approver,
        data: { ...vote },
      });
    }
    if (request.status !== 'pending') {
      metrics.approvalClosed(
        request.status,
        (Date.parse(request.closedAt ?? '') - Date.parse(request.requestedAt)) / 1000,
      );
      await audit.append({
        jobId: request.jobId,
        key: `${AuditEventType.ApprovalClosed}:${round(request)}`,
        type: AuditEventType.ApprovalClosed,
        data: {
          requestId: request.id,
          status: request.status,
          closedAt: request.closedAt,
          waitedMs: Date.parse(request.closedAt ?? '') - Date.parse(request.requestedAt),
        },
      });
    }
  };
  const tell = (c: ApprovalChannel, request: ApprovalRequest, event: ApprovalEvent, target?: string) =>
    event === 'update' ? c.update(request, target) : c.announce(request, event, target);
  return {
    async 'approvals.announce'(request: ApprovalRequest, event: 'requested' | 'escalated'): Promise<void> {
      await record(request, event);
      await each(request, (c, target) => c.announce(request, event, target));
    },
    async 'approvals.update'(request: ApprovalRequest): Promise<void> {
      await record(request, 'update');
      await each(request, (c, target) => c.update(request, target));
    },
    'approvals.record': record,
    async 'approvals.notify'(request: ApprovalRequest, event: ApprovalEvent, entry: string): Promise<void> {
      const [name, target] = entry.split(/:(.*)/s);
      const channel = byName.get(name);
      if (!channel) {
        log(`approval ${request.id}: channel "${name}" is not configured on this worker`);
        return;
      }
      try {
        await tell(channel, request, event, target || undefined);
        metrics.notification(name, 'ok');
      } catch (err) {
        // Retried in the background by the job's notifier (workflows/notifier.ts); the decision never waits for it.
        metrics.notification(name, 'failed_attempt');
        log(`approval ${request.id}: telling ${entry} (${event}) failed: ${(err as Error).message}`);
        throw err;
      }
    },
  };
}
