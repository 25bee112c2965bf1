/**
 * Loading a policy file: YAML → zod → compiled conditions. Every error names the file, line and path.
 * The content hash is the policy's version.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode as isYamlNode } from 'yaml';
import { ConditionError, compileCondition, type Condition } from './cel';
import { policySchema, type PolicyFile, type Rule } from './schema';

export interface PolicyProblem {
  path: string;
  line?: number;
  column?: number;
  message: string;
}

export class PolicyLoadError extends Error {
  readonly code = 'invalid_policy';
  constructor(
    readonly file: string,
    readonly problems: PolicyProblem[],
  ) {
    super(
      `invalid policy ${file}:\n${problems
        .map((p) => `  ${file}${p.line ? `:${p.line}:${p.column}` : ''} ${p.path ? `${p.path}: ` : ''}${p.message}`)
        .join('\n')}`,
    );
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
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const where = (path: (string | number)[]) => {
    // The deepest node that exists along the path.
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true);
      if (isYamlNode(node) && node.range) {
        const pos = lineCounter.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return {};
  };
  if (doc.errors.length) {
    throw new PolicyLoadError(
      file,
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { path: '', line: pos.line, column: pos.col, message: e.message.split('\n')[0] };
      }),
    );
  }
  const parsed = policySchema.safeParse(doc.toJS());
  if (!parsed.success) {
    throw new PolicyLoadError(
      file,
      parsed.error.issues.map((i) => {
        const path = i.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
        return { path: path.join('.'), ...where(path), message: i.message };
      }),
    );
  }
  const problems: PolicyProblem[] = [];
  const rules = parsed.data.rules.map((rule, i): CompiledRule => {
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
        problems.push({ path: path.join('.'), ...where(path), message: `invalid condition: ${err.message}` });
      }
    }
    return compiled;
  });
  if (problems.length) throw new PolicyLoadError(file, problems);
  return { file, hash: policyHash(text), source: parsed.data, rules };
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
