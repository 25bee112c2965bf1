/**
 * Turns registered tools into Temporal activities: `<tool>` executes, `<tool>.compensate` undoes. Each activity
 * re-validates its input with the tool's schema (the workflow resolved `$ref`s, so this is the first full check),
 * builds the tool's context from the activity context, and maps bad input to a non-retryable failure.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  compensationActivityName,
  finishedEvent,
  type ActionResult,
  type CompensationCall,
  type ToolCall,
} from '../src/core/job';
import { FailureType } from '../src/core/failures';
import { AuditEventType, type AuditEventInput, type AuditSink } from '../src/core/audit';
import type { Activity, Decider } from '../src/core/contracts';
import { gate } from '../src/core/gate';
import { formatIssues } from '../src/core/issues';
import { noMetrics, type ActivityMetrics } from '../src/core/metrics';
import { inputDigest } from '../src/core/digest';
import { boundOutput, type StoredOutputs } from '../src/core/outputs';
import { AUDIT_WRITE_REFUSED } from './audit-sink';
import type { ToolRegistry } from './registry';
import type { ToolContext, ToolDefinition, ToolDeps } from './tool';

function toolContext(call: ToolCall, deps: ToolDeps, signal?: AbortSignal): ToolContext {
  const ctx = Context.current();
  return {
    jobId: call.jobId,
    stepId: call.stepId,
    idempotencyKey: call.idempotencyKey,
    attempt: ctx.info.attempt,
    deps,
    signal: signal ?? ctx.cancellationSignal,
    heartbeat: (details) => ctx.heartbeat(details),
    limits: call.limits,
    log: {
      info: (msg, meta) => ctx.log.info(msg, meta),
      warn: (msg, meta) => ctx.log.warn(msg, meta),
    },
  };
}

function parseInput(tool: ToolDefinition, input: unknown): unknown {
  const parsed = tool.input.safeParse(input);
  if (!parsed.success) {
    const issues = formatIssues(parsed.error, ['input']);
    throw ApplicationFailure.create({
      type: FailureType.InvalidToolInput,
      nonRetryable: true,
      message: `${tool.name}: invalid input: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      details: [issues],
    });
  }
  return parsed.data;
}

/**
 * Writes what must be in the trail before acting. Refused for good, it did not act: a failure the workflow does not
 * compensate (step.ts).
 */
async function writeBeforeActing(audit: AuditSink, call: ToolCall, events: AuditEventInput[]): Promise<void> {
  try {
    await audit.appendAll(events);
  } catch (err) {
    if (!(err instanceof ApplicationFailure) || err.type !== AUDIT_WRITE_REFUSED) throw err;
    throw ApplicationFailure.create({
      type: FailureType.AuditRefusedBeforeActing,
      nonRetryable: true,
      message: `${call.stepId}: not acted: ${err.message}`,
      cause: err,
    });
  }
}

/** What happens around an audited act besides its own events. */
interface AuditedOptions<T, R> {
  /** Events written first, in the same write as the start (or alone, when there is no start event). */
  before?: AuditEventInput[];
  /** The input's digest, when already computed (the decision has it). */
  inputDigest?: string;
  /** Runs after acting and before the end is written: keeps the result (and its digest); returns what is returned. */
  keep?: (result: T, digest: string) => Promise<R>;
  /** An event written with the end, the trail's head signed with them: the job ends with this act. */
  closing?: () => AuditEventInput;
}

/**
 * Runs `act` between audit events: `<done>:<stepId>` once on success, `<failed>:<stepId>:<attempt>` per failed
 * attempt. The start (after the events in `before`, in the same write) is written before acting, so nothing acts
 * unaudited; the end after the result is kept, so an end in the trail means the output is stored.
 */
async function audited<T, R = T>(
  { audit, metrics }: { audit: AuditSink; metrics: ActivityMetrics },
  call: ToolCall,
  kind: { started?: AuditEventType; done: AuditEventType; failed: AuditEventType },
  data: Record<string, unknown>,
  act: () => Promise<T>,
  opts: AuditedOptions<T, R> = {},
): Promise<R> {
  const { before = [], keep, closing } = opts;
  const { attempt } = Context.current().info;
  const base = { jobId: call.jobId, requestId: call.requestId };
  const first = kind.started
    ? [
        {
          ...base,
          key: `${kind.started}:${call.stepId}`,
          type: kind.started,
          data: { ...data, attempt, input: call.input, inputDigest: opts.inputDigest ?? inputDigest(call.input) },
        },
      ]
    : [];
  if (before.length || first.length) await writeBeforeActing(audit, call, [...before, ...first]);
  let result: R;
  let outputDigest: string;
  try {
    const output = await act();
    outputDigest = inputDigest(output ?? null);
    result = keep ? await keep(output, outputDigest) : (output as unknown as R);
  } catch (err) {
    const error =
      err instanceof ApplicationFailure
        ? { message: err.message, type: err.type }
        : { message: (err as Error).message, type: (err as Error).name };
    await audit.append({
      ...base,
      key: `${kind.failed}:${call.stepId}:${attempt}`,
      type: kind.failed,
      data: { ...data, attempt, error },
    });
    if (kind.failed === AuditEventType.CompensationFailed) metrics.compensation('failed_attempt');
    throw err;
  }
  const done = {
    ...base,
    key: `${kind.done}:${call.stepId}`,
    type: kind.done,
    data: { ...data, attempt, outputDigest },
  };
  if (closing) await audit.appendAll([done, closing()], { seal: true });
  else await audit.append(done);
  if (kind.done === AuditEventType.CompensationFinished) metrics.compensation('ok');
  return result;
}

/**
 * Runs the tool within the policy's limits: `maxRuntime` aborts the attempt (the tool sees its signal aborted), and
 * on the last attempt the policy's `retries` allow, a failure is final.
 */
async function withinLimits<T>(call: ToolCall, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const { maxRuntimeMs, retries } = call.limits ?? {};
  try {
    if (maxRuntimeMs === undefined) return await run(ctx.cancellationSignal);
    const timeout = AbortSignal.timeout(maxRuntimeMs);
    const signal = AbortSignal.any([ctx.cancellationSignal, timeout]);
    let onTimeout: () => void = () => undefined;
    const timedOut = new Promise<never>((_, reject) => {
      onTimeout = () =>
        reject(
          ApplicationFailure.create({
            type: FailureType.MaxRuntimeExceeded,
            message: `${call.stepId}: still running after the policy's maxRuntime of ${maxRuntimeMs} ms`,
          }),
        );
      timeout.addEventListener('abort', onTimeout, { once: true });
    });
    try {
      return await Promise.race([run(signal), timedOut]);
    } finally {
      timeout.removeEventListener('abort', onTimeout);
    }
  } catch (err) {
    if (retries === undefined || ctx.info.attempt < retries + 1) throw err;
    if (err instanceof ApplicationFailure && err.nonRetryable) throw err;
    throw ApplicationFailure.create({
      type: err instanceof ApplicationFailure ? (err.type ?? undefined) : (err as Error).name,
      message: `${(err as Error).message} (attempt ${ctx.info.attempt}, the last of ${retries + 1} the policy allows)`,
      nonRetryable: true,
      cause: err as Error,
    });
  }
}

export interface ActivitiesOptions {
  registry: ToolRegistry;
  deps: ToolDeps;
  audit: AuditSink;
  /** The policy, asked right before acting; without it only pre-patch calls (decided by the workflow) run. */
  decide?: Decider;
  metrics?: ActivityMetrics;
  /** Where outputs too large for history go (calls with `outputLimit`, faults-v1). */
  outputs?: StoredOutputs;
}

/**
 * The output as it may enter history (`call.outputLimit`, faults-v1): a larger one is stored whole first, and a
 * bounded copy returned. The store is retried here: the tool has acted, and retrying the activity would act again.
 */
async function bounded(
  call: ToolCall,
  output: unknown,
  digest: string,
  outputs: StoredOutputs | undefined,
): Promise<unknown> {
  if (call.outputLimit === undefined) return output;
  const { inline, stored } = boundOutput(output, call.outputLimit, digest);
  if (!stored) return output;
  if (!outputs) throw new Error(`${call.stepId}: output too large for history, and this worker has no output store`);
  for (let attempt = 1; ; attempt++) {
    try {
      await outputs.put(call.jobId, call.stepId, output, digest);
      return inline;
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
  }
}

/** Builds the activity map a worker registers. */
export function createActivities({
  registry,
  deps,
  audit,
  decide,
  metrics = noMetrics,
  outputs,
}: ActivitiesOptions): Record<string, Activity> {
  const out = { audit, metrics };
  const activities: Record<string, Activity> = {};
  for (const tool of registry.list()) {
    const action = { action: tool.name };
    /** Acts: validates input, runs the tool within its limits, checks the output against the tool's contract. */
    const act = (call: ToolCall, opts: AuditedOptions<unknown, unknown> = {}) =>
      audited(
        out,
        call,
        {
          started: AuditEventType.ActionStarted,
          done: AuditEventType.ActionFinished,
          failed: AuditEventType.ActionFailed,
        },
        { stepId: call.stepId, ...action },
        async () => {
          if (call.approvedDigest && inputDigest(call.input) !== call.approvedDigest) {
            // Humans approved other arguments: never act on input nobody saw.
            throw ApplicationFailure.create({
              type: FailureType.ApprovalMismatch,
              nonRetryable: true,
              message: `${tool.name}: input digest ${inputDigest(call.input)} differs from the approved ${call.approvedDigest}`,
            });
          }
          const input = parseInput(tool, call.input);
          const output = await withinLimits(call, (signal) => tool.execute(input, toolContext(call, deps, signal)));
          const checked = tool.output.safeParse(output);
          if (!checked.success) {
            // A tool broke its own contract: retrying will not help, and later `$ref`s would read garbage.
            throw ApplicationFailure.create({
              type: FailureType.InvalidToolOutput,
              nonRetryable: true,
              message: `${tool.name}: output does not match its schema`,
              details: [formatIssues(checked.error, ['output'])],
            });
          }
          return checked.data;
        },
        { keep: (output, digest) => bounded(call, output, digest, outputs), ...opts },
      );
    activities[tool.name] = async (call) => {
      if (!call.decide) return act(call); // started before decisions moved into the action
      if (!decide) throw new Error(`${tool.name}: this worker was built without a policy to decide with`);
      // Decided right before acting, on every attempt: no policy change or freeze slips in between.
      const { attempt } = Context.current().info;
      const { decide: d, opening, closing, ...rest } = call;
      const { decision, event } = await decide(
        {
          jobId: call.jobId,
          stepId: call.stepId,
          decisionNo: d.decisionNo,
          ...(call.requestId ? { requestId: call.requestId } : {}),
          action: tool.name,
          agent: d.agent,
          caller: d.caller,
          context: d.context,
          input: call.input,
        },
        attempt,
      );
      // The job's submission first, when no earlier action of the job wrote it (GENERATION_2).
      const before = [...(opening ? [opening] : []), event];
      const verdict = gate(decision, d.gate);
      const opened = opening ? { opened: true } : {};
      if (!verdict.act) {
        await writeBeforeActing(audit, call, before);
        return { decision, acted: false, attempt, ...opened, ...(verdict.overBudget ? { overBudget: true } : {}) };
      }
      // The job ends with this action if it succeeds: its end is written with the action's (GENERATION_2). Not on the
      // last attempt: if the workflow then never heard of it (a timeout after the write), the job would end otherwise
      // than its sealed trail says; with an attempt left, the retry answers it.
      let closedAt: string | undefined;
      const { maximumAttempts } = Context.current().info.retryPolicy ?? {};
      const lastAttempt = maximumAttempts !== undefined && maximumAttempts > 0 && attempt >= maximumAttempts;
      const ending =
        closing && !lastAttempt
          ? () => {
              closedAt = new Date().toISOString();
              const { actions, cost } = closing.spent;
              const spent = { actions: actions + 1, cost: cost + decision.cost };
              return finishedEvent({ ...closing, spent, endedAt: closedAt }, call.requestId);
            }
          : undefined;
      // The decision and the start are written together, before acting.
      const output = await act(
        {
          ...rest,
          ...(verdict.viaApproval ? { approvedDigest: decision.inputDigest } : {}),
          ...(decision.limits ? { limits: decision.limits } : {}),
        },
        { before, inputDigest: decision.inputDigest, ...(ending ? { closing: ending } : {}) },
      );
      return {
        decision,
        acted: true,
        attempt,
        output,
        ...opened,
        ...(closedAt ? { closedAt } : {}),
      } satisfies ActionResult;
    };
    const compensate = tool.compensate;
    if (compensate) {
      activities[compensationActivityName(tool.name)] = (call) =>
        audited(
          out,
          call,
          { done: AuditEventType.CompensationFinished, failed: AuditEventType.CompensationFailed },
          { stepId: call.stepId, ...action },
          async () => {
            const input = parseInput(tool, call.input);
            await compensate(input, { ...toolContext(call, deps), output: (call as CompensationCall).output });
            return undefined;
          },
        );
    }
  }
  return activities;
}
