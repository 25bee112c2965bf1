/**
 * Whether a policy decision lets the action run now: the one rule, applied by the action's activity right before
 * acting and, for jobs started before the `decide-in-action` patch, by the workflow. Pure, so both may import it.
 */
import type { PolicyDecision } from './decision';

export interface GateInput {
  /** The job's cost budget and what it has spent (absent: no cost budget). */
  budget?: { spent: number; max: number };
  /** What humans approved for this step: a `require_approval` passes only for this digest under this policy. */
  approved?: { digest: string; policyHash: string };
}

export type Gate = { act: true; viaApproval: boolean } | { act: false; overBudget?: true };

export function gate(decision: PolicyDecision, { budget, approved }: GateInput): Gate {
  if (decision.frozen) return { act: false };
  if (budget && budget.spent + decision.cost > budget.max) return { act: false, overBudget: true };
  if (decision.outcome === 'deny') return { act: false };
  if (decision.outcome === 'allow') return { act: true, viaApproval: false };
  const viaApproval = approved?.digest === decision.inputDigest && approved.policyHash === decision.policyHash;
  return viaApproval ? { act: true, viaApproval } : { act: false };
}
