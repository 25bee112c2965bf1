/**
 * Validates a submitted job against the tool registry and turns it into the workflow's input. Every problem is
 * reported at once with its path (duplicate step ids, unknown actions, bad input fields, dangling `$ref`s), and
 * nothing starts unless the whole job is valid.
 */
import type { z } from 'zod';
import { formatIssues } from '../core/issues';
import type { ToolRegistry } from '../../activities/registry';
import {
  COMPENSATION_OPTIONS,
  DEFAULT_ACTION_RETRY,
  DEFAULT_ACTION_TIMEOUT_MS,
  type ToolDefinition,
} from '../../activities/tool';
import { findRefs, parseRef } from '../core/refs';
import { compensationActivityName, type JobInput, type PlannedStep } from '../core/job';
import { jobSchema, stepSchema, type Step } from '../core/job-schema';
import { toolQueue, type ToolQueues } from '../core/tool-queues';

export interface ValidationIssue {
  path: string;
  message: string;
}

/** A job refused before anything started; `issues` names every bad field. */
export class JobValidationError extends Error {
  readonly code = 'invalid_job';
  constructor(readonly issues: ValidationIssue[]) {
    super(`invalid job:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`);
    this.name = 'JobValidationError';
  }
}

const startsWith = (path: (string | number)[], prefix: (string | number)[]) =>
  prefix.length <= path.length && prefix.every((p, i) => String(path[i]) === String(p));

/** The well-formed steps of an invalid job, by index (undefined where a step itself is malformed). */
function stepsOf(raw: unknown): (Step | undefined)[] {
  const steps = (raw as { steps?: unknown } | null)?.steps;
  if (!Array.isArray(steps)) return [];
  return steps.map((s) => {
    const r = stepSchema.safeParse(s);
    return r.success ? r.data : undefined;
  });
}

/** Walks a zod schema along an output path; false when the schema says the field cannot exist. */
function outputPathExists(schema: z.ZodType, path: string[]): boolean {
  let current: z.ZodType = schema;
  for (const key of path) {
    // Unwrap optional/nullable/default wrappers.
    for (let i = 0; i < 5; i++) {
      const def = (current as unknown as { def: { type: string; innerType?: z.ZodType } }).def;
      if (def.innerType && ['optional', 'nullable', 'default', 'readonly'].includes(def.type)) current = def.innerType;
      else break;
    }
    const def = (
      current as unknown as { def: { type: string; shape?: Record<string, z.ZodType>; element?: z.ZodType } }
    ).def;
    if (def.type === 'object' && def.shape) {
      if (!(key in def.shape)) return false;
      current = def.shape[key];
    } else if (def.type === 'array' && def.element) {
      if (!/^\d+$/.test(key)) return false;
      current = def.element;
    } else {
      return true; // records, unknowns, unions: cannot tell statically; checked when the step runs
    }
  }
  return true;
}

/**
 * Timeouts, attempts and task queue of a step, from its tool (the retry policy may depend on the input) and
 * AIRLOCK_TOOL_QUEUES.
 */
export function stepOptions(
  tool: ToolDefinition,
  input: Record<string, unknown>,
  queues: ToolQueues,
): PlannedStep['options'] {
  let retry = DEFAULT_ACTION_RETRY as { maximumAttempts: number };
  if (typeof tool.retry === 'function') {
    // The retry policy may depend on input fields; a `$ref` there falls back to the schema's default.
    const parsed = tool.input.safeParse(input);
    retry = parsed.success ? tool.retry(parsed.data) : { maximumAttempts: 1 };
  } else if (tool.retry) retry = tool.retry;
  return {
    startToCloseTimeoutMs: tool.timeouts?.startToCloseMs ?? DEFAULT_ACTION_TIMEOUT_MS,
    heartbeatTimeoutMs: tool.timeouts?.heartbeatMs,
    maximumAttempts: retry.maximumAttempts,
    ...taskQueueOf(queues, tool.name),
  };
}

/** An agent session's call planned as a step without its id (the session numbers its steps): the MCP route's plan. */
export function sessionStep(
  tool: ToolDefinition,
  input: Record<string, unknown>,
  queues: ToolQueues,
): Omit<PlannedStep, 'id'> {
  return {
    action: tool.name,
    input,
    risk: tool.risk,
    ...(tool.compensate ? { compensation: compensationActivityName(tool.name) } : {}),
    options: stepOptions(tool, input, queues),
  };
}

const taskQueueOf = (queues: ToolQueues, tool: string) => {
  const taskQueue = toolQueue(queues, tool);
  return taskQueue ? { taskQueue } : {};
};

/**
 * Parses and checks a raw job; throws JobValidationError listing every problem. `toolQueues` (AIRLOCK_TOOL_QUEUES)
 * decides which task queue each step's activities run on.
 */
export function planJob(
  raw: unknown,
  registry: ToolRegistry,
  requester: string,
  toolQueues: ToolQueues = {},
): JobInput {
  const parsed = jobSchema.safeParse(raw);
  const issues: ValidationIssue[] = parsed.success ? [] : formatIssues(parsed.error);
  // Check the steps even when the envelope is bad, so one answer names every problem.
  const rawSteps = parsed.success ? parsed.data.steps : stepsOf(raw);
  const seen = new Map<string, number>();
  const steps: PlannedStep[] = [];

  rawSteps.forEach((step, index) => {
    if (!step) return; // malformed step: already reported by the schema
    const at = (...p: (string | number)[]) => ['steps', index, ...p].join('.');
    const earlier = seen.get(step.id);
    if (earlier !== undefined)
      issues.push({ path: at('id'), message: `duplicate step id "${step.id}" (also steps.${earlier}.id)` });
    else seen.set(step.id, index);

    const tool = registry.get(step.action);
    const refs = findRefs(step.input);
    for (const { path, ref } of refs) {
      const parsedRef = parseRef(ref);
      const where = at('input', ...path);
      if (!parsedRef) {
        issues.push({ path: where, message: `$ref "${ref}" is not of the form steps.<id>.output.<path>` });
        continue;
      }
      const target = seen.get(parsedRef.stepId);
      if (target === undefined || target === index) {
        issues.push({ path: where, message: `$ref "${ref}" points to no earlier step ("${parsedRef.stepId}")` });
        continue;
      }
      const targetTool = registry.get(rawSteps[target]!.action);
      if (targetTool && !outputPathExists(targetTool.output, parsedRef.outputPath)) {
        issues.push({
          path: where,
          message: `$ref "${ref}": ${targetTool.name} has no output field "${parsedRef.outputPath.join('.')}"`,
        });
      }
    }

    if (!tool) {
      issues.push({
        path: at('action'),
        message: `unknown action "${step.action}" (known: ${registry.names().join(', ')})`,
      });
      return;
    }
    const checked = tool.input.safeParse(step.input);
    if (!checked.success) {
      // Fields holding a `$ref` are checked when the step runs, once the reference is resolved.
      const refPaths = refs.map((r) => r.path);
      for (const issue of checked.error.issues) {
        const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
        if (refPaths.some((r) => startsWith(path, r))) continue;
        issues.push({ path: at('input', ...path), message: issue.message });
      }
    }
    steps.push({
      id: step.id,
      action: step.action,
      input: step.input,
      risk: tool.risk,
      compensation: tool.compensate ? compensationActivityName(tool.name) : undefined,
      options: stepOptions(tool, step.input, toolQueues),
    });
  });

  if (!parsed.success || issues.length) throw new JobValidationError(issues);
  const job = parsed.data;
  return {
    agent: job.agent,
    title: job.title,
    requester,
    context: job.context,
    budget: job.budget,
    steps,
    compensationOptions: { ...COMPENSATION_OPTIONS },
    ...(job.callbackUrl ? { callbackUrl: job.callbackUrl } : {}),
  };
}
