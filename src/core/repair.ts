/**
 * Repairing a job that ended `compensation_failed`: its workflow has ended, so a repair workflow of its own
 * (`<jobId>:repair`, workflows/repair.ts) runs the failed compensations again (`airlock compensate`) or records that
 * an operator undid a step by hand (`airlock resolve`). Each repair is a new run of that workflow id, handed what the
 * earlier ones did.
 */
import type { CompensationCall, JobStatus, StepActivityOptions, StepError } from './job';

/** Where a step that could not be undone stands. */
export type RepairStepStatus = 'compensation_failed' | 'compensated' | 'resolved_by_hand';

export interface RepairStep {
  stepId: string;
  action: string;
  /** The compensation's activity type (`<tool>.compensate`). */
  compensation: string;
  /** The call the job's compensation last ran with: the same idempotency key, `<jobId>/<stepId>`. */
  call: CompensationCall;
  status: RepairStepStatus;
  /** The last failure (the job's, then each repair's). */
  error?: StepError;
  /** Who undid it (by hand or by running the compensation again), when, and their note. */
  by?: string;
  at?: string;
  note?: string;
}

/** One operator action on the repair. */
export interface RepairAction {
  run: number;
  mode: 'compensate' | 'resolve';
  operator: string;
  stepIds: string[];
  note?: string;
  at: string;
  /** How the steps stood after it. */
  result?: RepairOutcome;
}

/** How the job stands after a repair: still compensation_failed, or undone (by running or by hand). */
export type RepairOutcome =
  typeof JobStatus.CompensationFailed | typeof JobStatus.Compensated | typeof JobStatus.ResolvedByHand;

export interface RepairInput {
  jobId: string;
  agent: string;
  operator: string;
  mode: 'compensate' | 'resolve';
  /** The steps this run acts on (each one still compensation_failed). */
  stepIds: string[];
  /** Required for `resolve`: what was done by hand. */
  note?: string;
  /** Every step of the job that could not be undone, as the job and the earlier repairs left it. */
  steps: RepairStep[];
  /** Earlier repairs of this job. */
  history: RepairAction[];
  /** The job's compensation options (timeouts); attempts bounded so a repair answers while the cause persists. */
  options: StepActivityOptions;
}

/** Answer of the repair workflow's `repairState` query, and its result. */
export interface RepairState {
  jobId: string;
  status: RepairOutcome | 'repairing';
  steps: RepairStep[];
  history: RepairAction[];
}

/** The id of a job's repair workflow. */
export const repairWorkflowId = (jobId: string) => `${jobId}:repair`;

/** A compensation is tried at most this often per repair when the job's options allow unlimited attempts. */
export const REPAIR_MAX_ATTEMPTS = 3;

/** How the job stands when every step has this status. */
export function repairOutcome(steps: RepairStep[]): RepairOutcome {
  if (steps.some((s) => s.status === 'compensation_failed')) return 'compensation_failed';
  return steps.some((s) => s.status === 'resolved_by_hand') ? 'resolved_by_hand' : 'compensated';
}
