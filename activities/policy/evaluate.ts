/**
 * The policy decision for one action, as a (local) activity: its result is recorded in workflow history with the
 * policy hash and rule id, so replay never reads today's policy file, and a policy change never breaks a replay.
 */
import type { PolicyStore } from '../../src/policy/store';
import { evaluatePolicy } from '../../src/policy/evaluate';
import { actionFacts } from '../../src/policy/facts';
import type { FreezeEntry, PolicyDecision, PolicyRequest } from '../../workflows/types';
import { inputDigest } from '../digest';
import type { ToolRegistry } from '../registry';
import type { AuditSink } from '../audit';
import { AuditEventType } from '../../src/audit/store';
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

export function createPolicyActivities({ policy, registry, freeze, audit }: PolicyDeps) {
  return {
    async 'policy.evaluate'(req: PolicyRequest): Promise<PolicyDecision> {
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
      await audit.append({
        jobId: req.jobId,
        key: `decision:${req.stepId}:${req.decisionNo}`,
        type: AuditEventType.PolicyDecision,
        actor: req.caller,
        requestId: req.requestId,
        data: { stepId: req.stepId, action: req.action, ...decision, input: req.input },
      });
      policyDecisions.inc({ outcome: decision.outcome, rule: decision.ruleId });
      return decision;
    },
  };
}

export type PolicyActivities = ReturnType<typeof createPolicyActivities>;
