/**
 * The decision as a local activity of its own: how workflows started before decisions moved into the action's
 * activity (`decideInAction` patch) ask. Kept so those histories replay and their running jobs finish; jobs since
 * then decide inside the action's activity (activities/create-activities.ts), with the same Decider.
 */
import type { AuditSink } from '../../src/core/audit';
import type { Decider, PolicyActivities, UnknownOutcomeRule } from '../../src/core/contracts';

export function createPolicyActivities(deps: {
  decide: Decider;
  audit: AuditSink;
  /** The policy's `onUnknownOutcome` for an action (faults-v1). */
  onUnknownOutcome: (req: { agent: string; action: string; input: Record<string, unknown> }) => UnknownOutcomeRule;
}): PolicyActivities {
  return {
    async 'policy.onUnknownOutcome'(req) {
      return deps.onUnknownOutcome(req);
    },
    async 'policy.evaluate'(req) {
      const { decision, event } = await deps.decide(req, 1);
      await deps.audit.append(event);
      return decision;
    },
  };
}
