/**
 * A tool is one kind of agent action, registered once: its zod input schema, risk class, `execute` activity, optional
 * `compensate` activity, and how it stays idempotent.
 */
import type { z } from 'zod';
import type { ActionLimits, RiskClass } from '../src/core/decision';
import type { GithubClients } from '../src/core/github';
import type { OutboundPolicy } from '../src/core/hosts';
import type { SandboxMode } from './shell/sandbox';

/** Dependencies handed to tools by the worker (see createActivities), so tests pass real local servers. */
export interface ToolDeps {
  /** Where `http.request` may go (hosts, plain-http hosts, private networks), and the resolver it uses. */
  http: OutboundPolicy;
  shell: {
    /** Directories under which `shell.run` may use a working directory. Empty = any absolute path. */
    allowedRoots: string[];
    /** How commands are sandboxed (activities/shell/sandbox.ts); absent means `bwrap`, required. */
    sandbox?: SandboxMode;
    /** Where bwrap is, when not in the system dirs. */
    bwrapPath?: string;
  };
  /** Directories under which the git tools may touch a repository. Absent or empty = any. */
  git?: { allowedRoots: string[] };
  /** GitHub clients per repository (src/github.ts), when GitHub is configured; tokens stay inside them. */
  github?: GithubClients;
  /** Looks up a named secret (`{"$secret": "NAME"}` in inputs), so secrets never enter workflow history. */
  secret: (name: string) => string | undefined;
}

/** What a running tool sees besides its input. */
export interface ToolContext {
  jobId: string;
  stepId: string;
  idempotencyKey: string;
  attempt: number;
  deps: ToolDeps;
  /** Aborted when Temporal cancels the activity (or the worker shuts down). */
  signal: AbortSignal;
  heartbeat: (details?: unknown) => void;
  /** Limits from the policy decision, re-checked by the tool when it acts. */
  limits?: ActionLimits;
  log: {
    info: (msg: string, meta?: Record<string, unknown>) => void;
    warn: (msg: string, meta?: Record<string, unknown>) => void;
  };
}

export interface CompensationContext<Output> extends ToolContext {
  /** The step's output, when it finished; absent when it failed or timed out (it may still have acted). */
  output?: Output;
}

export interface ToolRetry {
  maximumAttempts: number;
}

export interface ToolDefinition<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  risk: RiskClass;
  input: I;
  /** Declared output; `$ref` paths into it are checked at submission. */
  output: O;
  /** What one call costs, in the budget's units (e.g. cents); judged by the policy and the job budget. Default 0. */
  cost?: (input: z.infer<I>) => number;
  /** How the tool stays idempotent under retries, in one sentence (shown in `airlock tools`). */
  idempotency: string;
  timeouts?: { startToCloseMs?: number; heartbeatMs?: number };
  /** Retry policy for the action; a function of the input when safety depends on it (shell commands). */
  retry?: ToolRetry | ((input: z.infer<I>) => ToolRetry);
  execute: (input: z.infer<I>, ctx: ToolContext) => Promise<z.infer<O>>;
  /** The input's JSON Schema as given (an upstream MCP server's tool); otherwise derived from `input`. */
  jsonSchema?: Record<string, unknown>;
  /** Undoes the action. Must tolerate "nothing to undo": it also runs for a step that failed or timed out. */
  compensate?: (input: z.infer<I>, ctx: CompensationContext<z.infer<O>>) => Promise<void>;
}

/** Declares a tool with its types inferred from the schemas. */
export function defineTool<I extends z.ZodType, O extends z.ZodType>(tool: ToolDefinition<I, O>): ToolDefinition<I, O> {
  return tool;
}

/** Defaults for actions and compensations, one place. */
export const DEFAULT_ACTION_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_ACTION_RETRY = { maximumAttempts: 5 } as const;
/** Compensations retry longer than actions: an undo that gives up leaves the job in compensation_failed. */
export const COMPENSATION_OPTIONS = { startToCloseTimeoutMs: 5 * 60_000, maximumAttempts: 10 } as const;
