/**
 * Whether a person may decide an approval request, in words: the same rules the workflow's validator enforces
 * (groups, not one's own job, one vote each), used to show or hide the buttons. The validator still decides.
 */
import type { ApprovalRequest } from '../../core/approval';
import type { Person } from '../../core/people';

/** 'decide', or the sentence saying why this person cannot. */
export function mayDecide(person: Person, r: ApprovalRequest): 'decide' | string {
  if (r.status !== 'pending') return `This request is ${r.status.replace('_', ' ')}.`;
  const vote = r.votes.find((v) => v.approver === person.id);
  if (vote) return `You ${vote.decision === 'approve' ? 'approved' : 'rejected'} this; waiting for others.`;
  if (r.requester === person.id) return 'You asked for this job, so someone else must decide.';
  if (!r.groups.some((g) => person.groups.includes(g)))
    return `Only members of ${r.groups.join(' or ')} may decide this request.`;
  return 'decide';
}

/** A request as the templates show it: its approvals so far, and what this person may do. */
export function requestView(person: Person, r: ApprovalRequest) {
  return { ...r, approvals: r.votes.filter((v) => v.decision === 'approve').length, mine: mayDecide(person, r) };
}
