/**
 * The policy decision for one action. The action's own activity asks right before acting and returns the decision
 * with its result, so the decision (policy hash, rule id) is in workflow history, replay never reads today's policy
 * file, and no policy change or freeze slips in between the decision and the act.
 */
import type { PolicyStore } from '../../src/policy/store';
import { evaluatePolicy } from '../../src/policy/evaluate';
import { actionFacts } from '../../src/policy/facts';
import type { FreezeEntry, PolicyDecision, PolicyRequest } from '../../workflows/types';
import { inputDigest } from '../digest';
import type { ToolRegistry } from '../registry';
import type { AuditSink } from '../audit';
import { AuditEventType, type AuditEventInput } from '../../src/audit/store';
import { policyDecisions } from '../../src/metrics';

/** Where the current freezes are read from (src/freeze.ts keeps them in Temporal). */
export interface FreezeReader {
  lookup(agent: string): Promise<FreezeEntry | undefined>;
}

export interface PolicyDeps {
  policy: PolicyStore;
  registry: ToolRegistry;
  freeze: FreezeReader;
  audit: AuditSink;
}

/**
 * Decides one action; returns the decision and its audit event, for the caller to write before anything acts.
 * `attempt` > 1 when an action's retry decides again (its own audit event, so the trail shows every check).
 */
export async function decideAction(
  { policy, registry, freeze }: Omit<PolicyDeps, 'audit'>,
  req: PolicyRequest,
  attempt = 1,
): Promise<{ decision: PolicyDecision; event: AuditEventInput }> {
  const tool = registry.get(req.action);
  const parsed = tool?.input.safeParse(req.input);
  const cost = parsed?.success && tool?.cost ? tool.cost(parsed.data) : 0;
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
  policyDecisions.inc({ outcome: decision.outcome, rule: decision.ruleId });
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

/**
 * The decision as a local activity of its own: how workflows started before decisions moved into the action's
 * activity (`decideInAction` patch) ask. Kept so those histories replay and their running jobs finish.
 */
export function createPolicyActivities(deps: PolicyDeps) {
  return {
    async 'policy.evaluate'(req: PolicyRequest): Promise<PolicyDecision> {
      const { decision, event } = await decideAction(deps, req);
      await deps.audit.append(event);
      return decision;
    },
  };
}

export type PolicyActivities = ReturnType<typeof createPolicyActivities>;
