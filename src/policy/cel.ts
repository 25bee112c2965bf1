/**
 * Our small interface over CEL (@marcbachmann/cel-js): compile a condition once at load time, evaluate it against
 * the facts of an action. Its sharp edges are handled here and nowhere else:
 * - JSON integers are passed as BigInt (CEL int), so `cost > 100` and `n + 1` type-check as a reader expects;
 * - `matches` only takes a literal pattern that safe-regex accepts (JS RegExp backtracks catastrophically);
 * - no custom (let alone async) functions are registered;
 * - a result that is not a bool is an error, never truthiness.
 */
import { Environment, type ASTNode } from '@marcbachmann/cel-js';
import safeRegex from 'safe-regex2';

export const FACT_VARIABLES = [
  'action',
  'risk',
  'agent',
  'caller',
  'context',
  'input',
  'cost',
  'shell',
  'http',
  'github',
  'paths',
  'env',
] as const;

const env = FACT_VARIABLES.reduce(
  (e, name) => e.registerVariable(name, 'dyn'),
  new Environment({ limits: { maxAstNodes: 2000, maxDepth: 64 } }),
);

export class ConditionError extends Error {
  override readonly name = 'ConditionError';
}

export type Condition = (facts: Record<string, unknown>) => boolean;

function isNode(v: unknown): v is ASTNode {
  return typeof v === 'object' && v !== null && 'op' in v && 'args' in v;
}

function children(node: ASTNode): ASTNode[] {
  const out: ASTNode[] = [];
  const visit = (v: unknown) => {
    if (isNode(v)) out.push(v);
    else if (Array.isArray(v)) v.forEach(visit);
  };
  visit(node.args);
  return out;
}

/** Refuses `matches` with a computed or unsafe pattern. */
function checkPatterns(node: ASTNode) {
  let pattern: unknown;
  let isMatches = false;
  if (node.op === 'rcall' && node.args[0] === 'matches') {
    isMatches = true;
    pattern = node.args[2][0];
  } else if (node.op === 'call' && node.args[0] === 'matches') {
    isMatches = true;
    pattern = node.args[1][1];
  }
  if (isMatches) {
    if (!isNode(pattern) || pattern.op !== 'value' || typeof pattern.args !== 'string') {
      throw new ConditionError('matches() takes a string literal pattern, not a computed one');
    }
    if (!safeRegex(pattern.args)) {
      throw new ConditionError(`the pattern /${pattern.args}/ may backtrack catastrophically; rewrite it`);
    }
  }
  children(node).forEach(checkPatterns);
}

/** JSON numbers that are integers become CEL ints (BigInt); everything else passes through. */
export function toCel(value: unknown): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  }
  return value;
}

/** Compiles a condition; throws ConditionError with the reason when it is not valid. */
export function compileCondition(expression: string): Condition {
  let program: ReturnType<typeof env.parse>;
  try {
    program = env.parse(expression);
  } catch (err) {
    throw new ConditionError((err as Error).message.split('\n')[0]);
  }
  const checked = program.check();
  if (!checked.valid) throw new ConditionError(checked.error?.message.split('\n')[0] ?? 'does not type-check');
  checkPatterns(program.ast);
  return (facts) => {
    const result = program(facts);
    if (typeof result !== 'boolean') throw new ConditionError(`condition returned ${typeof result}, not a bool`);
    return result;
  };
}
