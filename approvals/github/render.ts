/**
 * The approval request as a GitHub comment (Markdown) and an `airlock/approval` check run: what is asked, by whom,
 * under which rule and policy version, the redacted input and its digest, votes so far, deadline, rollback plan and
 * how to decide. The exact input is bound by digest; secrets are redacted before anything is rendered.
 */
import { redact } from '../../src/core/redact';
import type { ApprovalRequest } from '../../src/core/approval';
import { marker } from '../../src/core/github';

export const CHECK_NAME = 'airlock/approval';
export const ACTION_APPROVE = 'approve';
export const ACTION_REJECT = 'reject';

/** The round a comment or check run belongs to: a request asked again after a policy change is a new round. */
export const roundOf = (r: ApprovalRequest) => `${r.id}@${r.requestedAt}`;
export const roundMarker = (round: string) => marker('approval', round);

const STATUS: Record<string, string> = {
  pending: '⏳ Waiting for approval',
  approved: '✅ Approved',
  rejected: '❌ Rejected',
  timed_out: '⏰ Timed out — rejected',
  cancelled: '⛔ Cancelled',
  superseded: '↪️ Superseded: new commits were pushed; asked again for the new head',
};

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
/** Text from others (titles, comments) never closes our code fences or pings people. */
const safe = (s: string) => s.replace(/```/g, "'''").replace(/@(?=\w)/g, '@\u200b');

export function commentBody(r: ApprovalRequest, round: string): string {
  const yes = new Set(r.votes.filter((v) => v.decision === 'approve').map((v) => v.approver)).size;
  const lines = [
    `### ${STATUS[r.status] ?? r.status}: ${safe(clip(r.title, 200))}`,
    '',
    '| | |',
    '|---|---|',
    `| Agent | \`${r.agent}\` |`,
    `| Requested by | ${r.requester} |`,
    `| Action | \`${r.action}\` (risk: **${r.risk}**) |`,
    `| Rule | \`${r.ruleId}\`${r.reason ? ` — ${safe(clip(r.reason, 200))}` : ''} |`,
    `| Policy | \`${r.policyHash.slice(0, 19)}\` |`,
    `| Votes | ${yes} of ${r.quorum} from ${r.groups.join(' or ')}${r.escalated ? ' (escalated)' : ''} |`,
    `| Deadline | ${r.deadline} |`,
    ...(r.headSha ? [`| Head commit | \`${r.headSha}\` — votes count for this commit only |`] : []),
    '',
    `**Input** (digest \`${r.inputDigest}\`)`,
    '```json',
    safe(clip(JSON.stringify(redact(r.input), null, 2), 3000)),
    '```',
  ];
  if (r.rollbackPlan.length)
    lines.push(
      '',
      `**Rejecting undoes**, in this order: ${r.rollbackPlan.map((s) => `\`${s.stepId}\` (${s.compensation})`).join(' → ')}`,
    );
  if (r.votes.length) {
    lines.push('', '**Votes**');
    for (const v of r.votes)
      lines.push(
        `- ${v.decision === 'approve' ? '👍' : '👎'} ${v.approver} via ${v.channel}${v.comment ? `: ${safe(clip(v.comment, 300))}` : ''}`,
      );
  }
  if (r.status === 'pending')
    lines.push(
      '',
      '**How to decide**: submit a review (**Approve** approves, **Request changes** rejects with its text as the reason), ' +
        'comment `/airlock approve [note]` or `/airlock reject <reason>`, or use the buttons on the ' +
        `\`${CHECK_NAME}\` check. Only people in the approver groups count; the requester cannot approve.`,
    );
  lines.push('', `<sub>Airlock request \`${r.id}\`</sub>`, roundMarker(round));
  return lines.join('\n');
}

const CONCLUSION: Record<string, 'success' | 'failure' | 'timed_out' | 'cancelled'> = {
  approved: 'success',
  rejected: 'failure',
  timed_out: 'timed_out',
  cancelled: 'cancelled',
  // GitHub alone may set `stale`; a superseded round's check is cancelled, its title says why.
  superseded: 'cancelled',
};

/** The check run's fields: completed with action_required and the buttons while open, then the outcome. */
export function checkRun(r: ApprovalRequest, round: string) {
  const yes = new Set(r.votes.filter((v) => v.decision === 'approve').map((v) => v.approver)).size;
  const open = r.status === 'pending';
  return {
    name: CHECK_NAME,
    external_id: round,
    status: 'completed' as const,
    conclusion: open ? ('action_required' as const) : (CONCLUSION[r.status] ?? 'neutral'),
    output: {
      title: clip(`${STATUS[r.status] ?? r.status}: ${yes} of ${r.quorum}`, 100),
      summary: clip(
        `${r.title} — \`${r.action}\` (risk ${r.risk}), rule \`${r.ruleId}\`, digest \`${r.inputDigest}\``,
        1000,
      ),
    },
    actions: open
      ? [
          { label: 'Approve', description: 'Approve this Airlock request', identifier: ACTION_APPROVE },
          { label: 'Reject', description: 'Reject this Airlock request', identifier: ACTION_REJECT },
        ]
      : [],
  };
}
