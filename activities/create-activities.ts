/**
 * Turns registered tools into Temporal activities: `<tool>` executes, `<tool>.compensate` undoes. Each activity
 * re-validates its input with the tool's schema (the workflow resolved `$ref`s, so this is the first full check),
 * builds the tool's context from the activity context, and maps bad input to a non-retryable failure.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import { compensationActivityName, FailureType, type CompensationCall, type ToolCall } from '../workflows/types';
import { AuditEventType } from '../src/audit/store';
import { compensations } from '../src/metrics';
import type { AuditSink } from './audit';
import { inputDigest } from './digest';
import type { ToolRegistry } from './registry';
import type { ToolContext, ToolDefinition, ToolDeps } from './tool';

export type Activity = (call: ToolCall | CompensationCall) => Promise<unknown>;

/** Formats zod issues as `path: message` lines, the one format every boundary uses. */
export function formatIssues(error: z.ZodError, prefix: (string | number)[] = []): { path: string; message: string }[] {
  return error.issues.map((issue) => ({
    path: [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))].join('.') || '(root)',
    message: issue.message,
  }));
}

function toolContext(call: ToolCall, deps: ToolDeps): ToolContext {
  const ctx = Context.current();
  return {
    jobId: call.jobId,
    stepId: call.stepId,
    idempotencyKey: call.idempotencyKey,
    attempt: ctx.info.attempt,
    deps,
    signal: ctx.cancellationSignal,
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
 * Runs `act` between audit events: `<done>:<stepId>` once on success, `<failed>:<stepId>:<attempt>` per failed
 * attempt. The start is written before acting, so nothing acts unaudited.
 */
async function audited<T>(
  audit: AuditSink,
  call: ToolCall,
  kind: { started?: AuditEventType; done: AuditEventType; failed: AuditEventType },
  data: Record<string, unknown>,
  act: () => Promise<T>,
): Promise<T> {
  const { attempt } = Context.current().info;
  const base = { jobId: call.jobId, requestId: call.requestId };
  if (kind.started) {
    await audit.append({
      ...base,
      key: `${kind.started}:${call.stepId}`,
      type: kind.started,
      data: { ...data, attempt, input: call.input, inputDigest: inputDigest(call.input) },
    });
  }
  let result: T;
  try {
    result = await act();
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
    if (kind.failed === AuditEventType.CompensationFailed) compensations.inc({ result: 'failed_attempt' });
    throw err;
  }
  await audit.append({
    ...base,
    key: `${kind.done}:${call.stepId}`,
    type: kind.done,
    data: { ...data, attempt, outputDigest: inputDigest(result ?? null) },
  });
  if (kind.done === AuditEventType.CompensationFinished) compensations.inc({ result: 'ok' });
  return result;
}

/** Builds the activity map a worker registers. */
export function createActivities(registry: ToolRegistry, deps: ToolDeps, audit: AuditSink): Record<string, Activity> {
  const activities: Record<string, Activity> = {};
  for (const tool of registry.list()) {
    const action = { action: tool.name };
    activities[tool.name] = (call) =>
      audited(
        audit,
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
          const output = await tool.execute(input, toolContext(call, deps));
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
      );
    const compensate = tool.compensate;
    if (compensate) {
      activities[compensationActivityName(tool.name)] = (call) =>
        audited(
          audit,
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
