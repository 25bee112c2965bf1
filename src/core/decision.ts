/**
 * Policy decisions as the rest of Airlock sees them: risk classes, outcomes, approval requirements, limits, freezes.
 * Pure types and `as const` enums: bundled into workflow code.
 */

/** Risk classes, ordered from least to most dangerous. */
export const RiskClass = ['read', 'low', 'medium', 'high', 'critical'] as const;
export type RiskClass = (typeof RiskClass)[number];

/** What approving a step takes, as the policy decided it (durations in ms, recorded in history). */
export interface ApprovalRequirement {
  groups: string[];
  quorum: number;
  channels: string[];
  timeoutMs: number;
  /** After the first timeout: reject, or ask these groups with a second timeout. */
  escalation?: { groups: string[]; quorum: number; timeoutMs: number };
}

/** Limits the workflow enforces on the action itself (the rest are judged by the policy activity). */
export interface ActionLimits {
  maxRuntimeMs?: number;
  retries?: number;
  writablePaths?: string[];
  /** Environment names that change what runs, allowed by the rule (see limits.allowEnv). */
  allowEnv?: string[];
}

export const Outcome = { Allow: 'allow', Deny: 'deny', RequireApproval: 'require_approval' } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** One policy decision for one action: the provenance of every action (policy hash + rule id). */
export interface PolicyDecision {
  outcome: Outcome;
  /** Id of the rule that decided, or `default`. */
  ruleId: string;
  /** `sha256:<hex>` of the policy file's content: its version. */
  policyHash: string;
  reason?: string;
  approval?: ApprovalRequirement;
  limits?: ActionLimits;
  /** `sha256:<hex>` of the resolved input as RFC 8785 canonical JSON: an approval is bound to it. */
  inputDigest: string;
  cost: number;
  /** Set when a freeze covers this job: the job pauses or aborts instead of acting. */
  frozen?: FreezeEntry;
}

/** A kill switch, global (`agent` absent) or for one agent. */
export interface FreezeEntry {
  agent?: string;
  mode: 'pause' | 'abort';
  reason: string;
  by: string;
  at: string;
}

/** What the policy activity is asked. */
export interface PolicyRequest {
  jobId: string;
  stepId: string;
  /** 1 for the step's first decision, 2 when asked again: names the audit event. */
  decisionNo: number;
  requestId?: string;
  action: string;
  agent: string;
  caller: string;
  context: Record<string, unknown>;
  input: Record<string, unknown>;
}
