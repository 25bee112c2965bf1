/**
 * The policy decision for one action, as the action's activity asks it right before acting: the verdict of the
 * current policy on the action's facts, the freeze in force, the input digest an approval binds to, and the audit
 * event that records it. The composition root hands it to the activities as their Decider.
 */
import type { ActivityMetrics } from '../core/metrics';
import { AuditEventType, type AuditEventInput } from '../core/audit';
import type { FreezeReader } from '../core/contracts';
import type { PolicyDecision, PolicyRequest } from '../core/decision';
import { inputDigest } from '../core/digest';
import { actionFacts } from '../core/facts';
import type { ToolRegistry } from '../../activities/registry';
import type { ToolDefinition } from '../../activities/tool';
import { evaluatePolicy } from './evaluate';
import type { PolicyStore } from './store';

export interface DecideDeps {
  policy: PolicyStore;
  registry: ToolRegistry;
  freeze: FreezeReader;
  metrics?: Pick<ActivityMetrics, 'policyDecision'>;
}

/** What the tool says an action costs (0 for an unknown tool, a tool without a cost, or input it refuses). */
export function actionCost(tool: ToolDefinition | undefined, input: unknown): number {
  const parsed = tool?.input.safeParse(input);
  return parsed?.success && tool?.cost ? tool.cost(parsed.data) : 0;
}

/**
 * Decides one action; returns the decision and its audit event, for the caller to write before anything acts.
 * `attempt` > 1 when an action's retry decides again (its own audit event, so the trail shows every check).
 */
export async function decideAction(
  { policy, registry, freeze, metrics }: DecideDeps,
  req: PolicyRequest,
  attempt = 1,
): Promise<{ decision: PolicyDecision; event: AuditEventInput }> {
  const tool = registry.get(req.action);
  const cost = actionCost(tool, req.input);
  const current = policy.current();
  const verdict = evaluatePolicy(current, actionFacts({ ...req, risk: tool?.risk ?? 'critical', cost }));
  const frozen = await freeze.lookup(req.agent);
  const decision: PolicyDecision = {
    ...verdict,
    policyHash: current.hash,
    inputDigest: inputDigest(req.input),
    cost,
    ...(frozen ? { frozen } : {}),
  };
  metrics?.policyDecision(decision.outcome, decision.ruleId);
  const event: AuditEventInput = {
    jobId: req.jobId,
    key: `decision:${req.stepId}:${req.decisionNo}${attempt > 1 ? `:attempt-${attempt}` : ''}`,
    type: AuditEventType.PolicyDecision,
    actor: req.caller,
    requestId: req.requestId,
    data: { stepId: req.stepId, action: req.action, ...decision, input: req.input },
  };
  return { decision, event };
}
