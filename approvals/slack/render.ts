/**
 * The approval request as Slack Block Kit: what is asked, by whom, under which rule, votes so far, deadline, and
 * Approve / Reject buttons while it is open. Inputs are redacted and shortened; the exact input is bound by digest.
 */
import { redact } from '../../src/core/redact';
import type { ApprovalRequest } from '../../src/core/approval';

export const ACTION_APPROVE = 'airlock_approve';
export const ACTION_REJECT = 'airlock_reject';
export const REJECT_MODAL = 'airlock_reject_reason';

/** What a button carries: the request and the exact input digest the approver saw. */
export interface ButtonValue {
  requestId: string;
  digest: string;
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function inputSummary(input: Record<string, unknown>): string {
  return clip(JSON.stringify(redact(input), null, 1), 600);
}

const STATUS_TEXT: Record<string, string> = {
  pending: ':hourglass_flowing_sand: Waiting for approval',
  approved: ':white_check_mark: Approved',
  rejected: ':x: Rejected',
  timed_out: ':alarm_clock: Timed out — rejected',
  cancelled: ':no_entry: Cancelled',
  superseded: ':leftwards_arrow_with_hook: Superseded: new commits on the pull request; asked again',
};

export function approvalBlocks(r: ApprovalRequest) {
  const yes = new Set(r.votes.filter((v) => v.decision === 'approve').map((v) => v.approver)).size;
  const value = JSON.stringify({ requestId: r.id, digest: r.inputDigest } satisfies ButtonValue);
  const status = `${STATUS_TEXT[r.status] ?? r.status}${r.escalated ? ` · escalated to ${r.groups.join(', ')}` : ''}`;
  const votes = r.votes.map(
    (v) => `${v.decision === 'approve' ? ':+1:' : ':-1:'} ${v.approver}${v.comment ? `: ${clip(v.comment, 200)}` : ''}`,
  );
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(`Approval: ${r.title}`, 150) } },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Agent*\n${r.agent}` },
        { type: 'mrkdwn', text: `*Requested by*\n${r.requester}` },
        { type: 'mrkdwn', text: `*Action*\n\`${r.action}\` (risk: ${r.risk})` },
        { type: 'mrkdwn', text: `*Rule*\n${r.ruleId}` },
        { type: 'mrkdwn', text: `*Votes*\n${yes} of ${r.quorum} from ${r.groups.join(' or ')}` },
        {
          type: 'mrkdwn',
          text: `*Deadline*\n<!date^${Math.floor(Date.parse(r.deadline) / 1000)}^{date_short_pretty} {time}|${r.deadline}>`,
        },
      ],
    },
    ...(r.retryOf
      ? [
          {
            type: 'section',
            text: {
              type: 'mrkdwn',
              text: clip(
                `*Retry* of ${r.retryOf.jobId}, which ended ${r.retryOf.status}${r.retryOf.error ? `: ${r.retryOf.error.message}` : ''} (retried by ${r.retryOf.by})`,
                2900,
              ),
            },
          },
        ]
      : []),
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*Input* (digest \`${r.inputDigest.slice(7, 19)}\`)\n\`\`\`${inputSummary(r.input)}\`\`\``,
      },
    },
  ];
  if (r.rollbackPlan.length) {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `Rejecting undoes: ${r.rollbackPlan.map((s) => s.stepId).join(' → ')}` }],
    });
  }
  if (votes.length) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: votes.join('\n') } });
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `${status} · \`${r.id}\`` }] });
  if (r.status === 'pending') {
    blocks.push({
      type: 'actions',
      block_id: 'airlock_decision',
      elements: [
        {
          type: 'button',
          action_id: ACTION_APPROVE,
          style: 'primary',
          text: { type: 'plain_text', text: 'Approve' },
          value,
        },
        {
          type: 'button',
          action_id: ACTION_REJECT,
          style: 'danger',
          text: { type: 'plain_text', text: 'Reject' },
          value,
        },
      ],
    });
  }
  return { text: `${status}: ${r.title} (${r.action})`, blocks };
}

/** The modal that asks a rejecting approver for a reason. */
export function rejectModal(value: ButtonValue) {
  return {
    type: 'modal' as const,
    callback_id: REJECT_MODAL,
    private_metadata: JSON.stringify(value),
    title: { type: 'plain_text' as const, text: 'Reject' },
    submit: { type: 'plain_text' as const, text: 'Reject' },
    blocks: [
      {
        type: 'input',
        block_id: 'reason',
        element: { type: 'plain_text_input', action_id: 'reason', multiline: true },
        label: { type: 'plain_text', text: 'Why?' },
      },
    ],
  };
}
