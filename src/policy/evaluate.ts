/**
 * Judging one action against a compiled policy. Pure and synchronous: the policy activity (activities/policy/)
 * calls it, so each decision is recorded in workflow history and replay never reads today's policy file.
 */
import { hostAllowed } from '../core/hosts';
import type { ApprovalRequirement, Outcome } from '../core/decision';
import { toCel } from './cel';
import {
  isDangerousEnv,
  isUnder,
  normaliseDenied,
  parseFlags,
  programNames,
  programFile,
  sameProgram,
  type ActionFacts,
} from '../core/facts';
import type { CompiledPolicy, CompiledRule } from './load';
import type { ApprovalRule, Limits } from './schema';

export interface Verdict {
  outcome: Outcome;
  ruleId: string;
  reason?: string;
  approval?: ApprovalRequirement;
  limits?: { maxRuntimeMs?: number; retries?: number; writablePaths?: string[]; allowEnv?: string[] };
}

const matchesAny = (patterns: RegExp[] | undefined, value: string) => !patterns || patterns.some((p) => p.test(value));

function staticMatch(rule: CompiledRule, facts: ActionFacts): boolean {
  const m = rule.match;
  if (!matchesAny(rule.actionPatterns, facts.action)) return false;
  if (m.risk && !m.risk.includes(facts.risk)) return false;
  if (!matchesAny(rule.agentPatterns, facts.agent)) return false;
  if (!matchesAny(rule.callerPatterns, facts.caller)) return false;
  if (m.context && !Object.entries(m.context).every(([k, v]) => facts.context[k] === v)) return false;
  return true;
}

/** A policy's approval block as the workflow uses it. */
export function approvalRequirement(a: ApprovalRule): ApprovalRequirement {
  return {
    groups: a.groups,
    quorum: a.quorum,
    channels: a.channels,
    timeoutMs: a.timeout,
    escalation:
      a.onTimeout === 'reject'
        ? undefined
        : {
            groups: a.onTimeout.escalate.groups,
            quorum: a.onTimeout.escalate.quorum,
            timeoutMs: a.onTimeout.escalate.timeout,
          },
  };
}

/**
 * Whether a command is (or hides) a denied one. Besides the command's own program, any later word of its argv that
 * names the denied program counts, with the flags after it: an unknown wrapper (`foo -x rm -rf /`, `find -exec`)
 * may run its arguments, and denying an `echo rm -rf` is the cheaper mistake. Identity is by name, symlink target,
 * hardlink or identical bytes of the denied program's file.
 */
function deniedHit(
  denied: ReturnType<typeof normaliseDenied>,
  commands: { names: string[]; file?: string; programs: string[]; flags: string[]; argv: string[] }[],
  cwd: string,
): boolean | string {
  const deniedFile = programFile(denied.program, '/');
  const isDenied = (word: string) => {
    const id = programNames(word, cwd);
    if (id.names.includes(denied.program)) return true;
    return deniedFile !== undefined && id.file !== undefined && sameProgram(id.file, deniedFile);
  };
  for (const cmd of commands) {
    const programHit =
      cmd.names.includes(denied.program) ||
      (deniedFile !== undefined && cmd.file !== undefined && sameProgram(cmd.file, deniedFile)) ||
      (denied.flags.length === 0 && cmd.programs.includes(denied.program));
    if (programHit && denied.flags.every((f) => cmd.flags.includes(f))) return true;
    // From 0: a copy of the denied program is known only here, and reads its flags as the denied program does.
    for (let j = 0; j < cmd.argv.length; j++) {
      const word = cmd.argv[j];
      if (word.startsWith('-') || !isDenied(word)) continue;
      const { flags } = parseFlags(denied.program, cmd.argv.slice(j + 1));
      if (denied.flags.every((f) => flags.includes(f))) return j === 0 ? `as ${word}` : `run through ${cmd.argv[0]}`;
    }
  }
  return false;
}

/** Env names the action asks for that could change what runs, not listed in the rule's `allowEnv`. */
export function envViolation(limits: Limits | undefined, facts: ActionFacts): string | undefined {
  const allowed = new Set(limits?.allowEnv ?? []);
  const bad = Object.keys(facts.env).filter((name) => isDangerousEnv(name) && !allowed.has(name));
  return bad.length
    ? `environment ${bad.join(', ')} may change what runs; list it in limits.allowEnv to allow`
    : undefined;
}

/** The first limit the action breaks, as a reason; undefined when it keeps within them. */
export function limitViolation(limits: Limits, facts: ActionFacts): string | undefined {
  if (limits.maxCost !== undefined && facts.cost > limits.maxCost)
    return `cost ${facts.cost} is above the limit ${limits.maxCost}`;
  if ((limits.deniedCommands || limits.writablePaths) && facts.shell?.opaque) {
    return `the command cannot be checked against the limits: ${facts.shell.opaqueReasons.join('; ')}`;
  }
  if (limits.deniedCommands && facts.shell) {
    for (const denied of limits.deniedCommands.map(normaliseDenied)) {
      const hit = deniedHit(denied, facts.shell.commands, facts.shell.cwd);
      if (hit) return `"${denied.text}" is a denied command${hit === true ? '' : ` (${hit})`}`;
    }
  }
  if (limits.writablePaths && facts.paths.length) {
    const outside = facts.paths.find((p) => !limits.writablePaths!.some((root) => isUnder(p, root)));
    if (outside) return `${outside} is outside the writable paths (${limits.writablePaths.join(', ')})`;
  }
  if (
    limits.allowedHosts &&
    facts.http &&
    !hostAllowed(new URL(`${facts.http.scheme}://${facts.http.host}:${facts.http.port}`), limits.allowedHosts)
  ) {
    return `host ${facts.http.host} is not in the allowed hosts (${limits.allowedHosts.join(', ')})`;
  }
  return undefined;
}

function verdict(
  ruleId: string,
  rule: { decision: Outcome; reason?: string; approval?: ApprovalRule; limits?: Limits },
  facts: ActionFacts,
): Verdict {
  if (rule.decision !== 'deny' && rule.limits) {
    const broken = limitViolation(rule.limits, facts);
    if (broken) return { outcome: 'deny', ruleId, reason: `limit of rule ${ruleId}: ${broken}` };
  }
  // Default-deny for environment that changes what runs, whether or not the rule has limits.
  if (rule.decision !== 'deny') {
    const env = envViolation(rule.limits, facts);
    if (env) return { outcome: 'deny', ruleId, reason: `rule ${ruleId}: ${env}` };
  }
  const limits = rule.limits
    ? {
        maxRuntimeMs: rule.limits.maxRuntime,
        retries: rule.limits.retries,
        writablePaths: rule.limits.writablePaths,
        allowEnv: rule.limits.allowEnv,
      }
    : undefined;
  return {
    outcome: rule.decision,
    ruleId,
    reason: rule.reason ?? (rule.decision === 'deny' ? `denied by rule ${ruleId}` : undefined),
    approval: rule.approval ? approvalRequirement(rule.approval) : undefined,
    limits,
  };
}

/** First matching rule decides; a condition that cannot be evaluated denies (fail closed). */
export function evaluatePolicy(policy: CompiledPolicy, facts: ActionFacts): Verdict {
  let celFacts: Record<string, unknown> | undefined;
  for (const rule of policy.rules) {
    if (!staticMatch(rule, facts)) continue;
    if (rule.condition) {
      celFacts ??= toCel(facts) as Record<string, unknown>;
      let hit: boolean;
      try {
        hit = rule.condition(celFacts);
      } catch (err) {
        return {
          outcome: 'deny',
          ruleId: rule.id,
          reason: `rule ${rule.id} could not be evaluated: ${(err as Error).message.split('\n')[0]}`,
        };
      }
      if (!hit) continue;
    }
    return verdict(rule.id, rule, facts);
  }
  return verdict('default', policy.source.default, facts);
}
