/**
 * The repair of a job that ended `compensation_failed` (`<jobId>:repair`): runs the failed compensations again with
 * the same activity and idempotency key (`airlock compensate`), or records that an operator undid a step by hand
 * (`airlock resolve`), writing each in the job's repair trail; ends with how the job stands, also as its
 * AirlockStatus (`compensated`, `resolved_by_hand`, or still `compensation_failed`).
 */
import { proxyLocalActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { AuditEventType, repairTrailId } from '../src/core/audit';
import type { RepairActivities } from '../src/core/contracts';
import { airlockAgentKey, airlockStatusKey } from '../src/core/search-attributes';
import {
  REPAIR_MAX_ATTEMPTS,
  repairOutcome,
  type RepairAction,
  type RepairInput,
  type RepairState,
} from '../src/core/repair';
import { describe, now, tools } from './context';
import { repairStateQuery } from './messages';

const audit = proxyLocalActivities<RepairActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/** Repairs what the job could not undo; returns how it stands now. */
export async function repairWorkflow(input: RepairInput): Promise<RepairState> {
  const { jobId, operator, mode } = input;
  const state: RepairState = {
    jobId,
    status: 'repairing',
    steps: input.steps.map((s) => ({ ...s })),
    history: [...input.history],
  };
  setHandler(repairStateQuery, () => state);
  const run = state.history.length + 1;
  const action: RepairAction = {
    run,
    mode,
    operator,
    stepIds: input.stepIds,
    ...(input.note ? { note: input.note } : {}),
    at: now(),
  };
  state.history.push(action);
  const trail = repairTrailId(jobId);
  const record = (key: string, type: AuditEventType, data: Record<string, unknown>) =>
    audit['repair.record']({ jobId: trail, key: `run-${run}:${key}`, type, actor: operator, data: { jobId, ...data } });

  await record('started', AuditEventType.RepairStarted, {
    mode,
    steps: input.stepIds,
    ...(input.note ? { note: input.note } : {}),
  });
  // A repair answers while the cause persists: the job's attempts, bounded when they were unlimited (faults-v1).
  const options = {
    ...input.options,
    maximumAttempts: Math.min(input.options.maximumAttempts || REPAIR_MAX_ATTEMPTS, REPAIR_MAX_ATTEMPTS),
  };
  for (const step of state.steps.filter((s) => input.stepIds.includes(s.stepId))) {
    if (step.status !== 'compensation_failed') continue;
    if (mode === 'resolve') {
      Object.assign(step, { status: 'resolved_by_hand', by: operator, at: now(), note: input.note });
      await record(`resolved:${step.stepId}`, AuditEventType.RepairResolvedByHand, {
        stepId: step.stepId,
        action: step.action,
        note: input.note,
      });
      continue;
    }
    try {
      await tools(options)[step.compensation](step.call);
      Object.assign(step, { status: 'compensated', by: operator, at: now() });
      delete step.error;
      await record(`compensated:${step.stepId}`, AuditEventType.RepairCompensated, {
        stepId: step.stepId,
        compensation: step.compensation,
        idempotencyKey: step.call.idempotencyKey,
      });
    } catch (err) {
      step.error = describe(err);
      await record(`failed:${step.stepId}`, AuditEventType.RepairCompensationFailed, {
        stepId: step.stepId,
        compensation: step.compensation,
        error: step.error,
      });
    }
  }
  const outcome = repairOutcome(state.steps);
  state.status = outcome;
  action.result = outcome;
  upsertSearchAttributes([
    { key: airlockStatusKey, value: outcome },
    { key: airlockAgentKey, value: input.agent },
  ]);
  await record('finished', AuditEventType.RepairFinished, {
    status: outcome,
    steps: state.steps.map((s) => ({ stepId: s.stepId, status: s.status })),
    runId: workflowInfo().runId,
  });
  return state;
}
