/**
 * Loading a policy file: YAML → zod → compiled conditions. Every error names the file, line and path.
 * The content hash is the policy's version.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigFileError, parseYamlConfig, type FileProblem } from '../yaml-config';
import { ConditionError, compileCondition, type Condition } from './cel';
import { policySchema, type PolicyFile, type Rule } from './schema';

export type PolicyProblem = FileProblem;

export class PolicyLoadError extends ConfigFileError {
  override readonly code = 'invalid_policy';
  constructor(file: string, problems: PolicyProblem[]) {
    super(file, problems, 'policy');
    this.name = 'PolicyLoadError';
  }
}

export interface CompiledRule extends Rule {
  condition?: Condition;
  actionPatterns?: RegExp[];
  agentPatterns?: RegExp[];
  callerPatterns?: RegExp[];
}

export interface CompiledPolicy {
  file: string;
  hash: string;
  source: PolicyFile;
  rules: CompiledRule[];
}

/** `github.*` → /^github\..*$/: `*` is the only wildcard. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
      .join('.*')}$`,
  );
}

export function policyHash(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** Parses and validates policy text; `file` only names it in errors. */
export function compilePolicy(text: string, file: string): CompiledPolicy {
  const { data, locate } = parseYamlConfig(text, policySchema, (problems) => new PolicyLoadError(file, problems));
  const problems: PolicyProblem[] = [];
  const rules = data.rules.map((rule, i): CompiledRule => {
    const compiled: CompiledRule = {
      ...rule,
      actionPatterns: rule.match.action?.map(globToRegExp),
      agentPatterns: rule.match.agent?.map(globToRegExp),
      callerPatterns: rule.match.caller?.map(globToRegExp),
    };
    if (rule.match.when) {
      try {
        compiled.condition = compileCondition(rule.match.when);
      } catch (err) {
        if (!(err instanceof ConditionError)) throw err;
        const path = ['rules', i, 'match', 'when'];
        problems.push({ path: path.join('.'), ...locate(path), message: `invalid condition: ${err.message}` });
      }
    }
    return compiled;
  });
  if (problems.length) throw new PolicyLoadError(file, problems);
  return { file, hash: policyHash(text), source: data, rules };
}

export function loadPolicyFile(file: string): CompiledPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PolicyLoadError(file, [
      {
        path: '',
        message: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message,
      },
    ]);
  }
  return compilePolicy(text, file);
}
