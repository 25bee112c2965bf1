/**
 * The policy file (YAML), validated with zod. Rules are tried in order; the first that matches decides.
 */
import { z } from 'zod';
import { RiskClass } from '../core/decision';

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `90s`, `30m`, `4h`, `2d` → milliseconds. */
export const durationSchema = z
  .string()
  .regex(DURATION, 'durations look like 90s, 30m, 4h or 2d')
  .transform((s) => {
    const [, n, unit] = DURATION.exec(s)!;
    return Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
  });

const globs = z
  .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
  .transform((v) => (Array.isArray(v) ? v : [v]));

export const escalationSchema = z.strictObject({
  groups: z.array(z.string().min(1)).min(1),
  quorum: z.number().int().positive().default(1),
  timeout: durationSchema,
});

export const approvalSchema = z.strictObject({
  groups: z.array(z.string().min(1)).min(1, 'name at least one approver group'),
  quorum: z.number().int().positive().default(1),
  channels: z.array(z.string().min(1)).default(['api']),
  timeout: durationSchema,
  onTimeout: z.union([z.literal('reject'), z.strictObject({ escalate: escalationSchema })]).default('reject'),
});
export type ApprovalRule = z.infer<typeof approvalSchema>;

export const limitsSchema = z.strictObject({
  maxRuntime: durationSchema.optional(),
  retries: z.number().int().min(0).max(20).optional(),
  /** shell.run: the working directory (after resolving symlinks and `..`) and path arguments must be under one of these. */
  writablePaths: z.array(z.string().startsWith('/', 'must be an absolute path')).optional(),
  /**
   * shell.run: `program [flags]`; `rm -rf` also catches `rm -fr`, `rm -r -f`, `/bin/rm --rec --forc`, wrappers
   * (`sudo`, `timeout 10`, `env -S`…), shells (`bash -lc '…'`), links and copies of the program, and the program
   * named anywhere later in the argv. With deniedCommands or writablePaths, a command that cannot be judged
   * statically (`shell.opaque`: expansions, eval, script files, inline interpreter code) is denied.
   */
  deniedCommands: z.array(z.string().min(1)).optional(),
  /**
   * Environment names the action may set that change what runs (PATH, HOME, LD_*, BASH_ENV, ENV, GIT_*,
   * PYTHONPATH, NODE_OPTIONS…; see isDangerousEnv in src/policy/facts.ts). Without them listed here any rule's
   * allow or require_approval becomes a deny. The run-time tool refuses them too.
   */
  allowEnv: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')).optional(),
  /** http.request: hosts this rule lets the action reach. */
  allowedHosts: z.array(z.string().min(1)).optional(),
  /** Highest cost one action may report. */
  maxCost: z.number().nonnegative().optional(),
});
export type Limits = z.infer<typeof limitsSchema>;

const decisionFields = {
  decision: z.enum(['allow', 'deny', 'require_approval']),
  reason: z.string().min(1).optional(),
  approval: approvalSchema.optional(),
  limits: limitsSchema.optional(),
};

function decisionChecks(v: { decision: string; approval?: unknown }, ctx: z.RefinementCtx) {
  if (v.decision === 'require_approval' && !v.approval) {
    ctx.addIssue({ code: 'custom', path: ['approval'], message: 'require_approval needs an approval block' });
  }
  if (v.decision !== 'require_approval' && v.approval) {
    ctx.addIssue({ code: 'custom', path: ['approval'], message: `an approval block only goes with require_approval` });
  }
}

export const ruleSchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'rule ids are lowercase letters, digits, "-" and "_"'),
    description: z.string().optional(),
    match: z
      .strictObject({
        action: globs.optional(),
        risk: z.array(z.enum(RiskClass)).min(1).optional(),
        agent: globs.optional(),
        caller: globs.optional(),
        context: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
        /** A CEL condition over the action's normalised facts (see src/core/facts.ts). */
        when: z.string().min(1).optional(),
      })
      .default({}),
    ...decisionFields,
  })
  .superRefine(decisionChecks);
export type Rule = z.infer<typeof ruleSchema>;

export const policySchema = z
  .strictObject({
    version: z.literal(1),
    description: z.string().optional(),
    default: z
      .strictObject(decisionFields)
      .superRefine(decisionChecks)
      .default({ decision: 'deny', reason: 'no rule allows this action' }),
    freeze: z.strictObject({ mode: z.enum(['pause', 'abort']).default('pause') }).default({ mode: 'pause' }),
    /**
     * A started action that cannot be retried timed out or lost its worker, so it may or may not have acted: undo it as
     * if it acted (`compensate`, the default), or ask these people whether it did (`{ ask: <approval> }`: approve = it
     * acted, compensate it; reject = it did not; no answer in time = compensate). The job stops either way.
     */
    onUnknownOutcome: z.union([z.literal('compensate'), z.strictObject({ ask: approvalSchema })]).default('compensate'),
    rules: z.array(ruleSchema).default([]),
  })
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.rules.forEach((r, i) => {
      if (seen.has(r.id))
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id "${r.id}"` });
      seen.add(r.id);
    });
  });
export type PolicyFile = z.infer<typeof policySchema>;
