/**
 * What an agent sees over MCP: the tools the policy could ever allow it (a rule that denies the agent a tool for
 * every input hides it; a rule whose condition depends on the input does not), each with a JSON Schema derived from
 * the tool's zod input schema and its risk class in the description.
 */
import { z } from 'zod';
import type { ToolDefinition } from '../../activities/tool';
import type { ToolRegistry } from '../../activities/registry';
import type { CompiledPolicy, CompiledRule } from '../policy/load';

/** Who asks, as the policy's static match sees it: the agent, its caller and its context. */
export interface AgentFacts {
  agent: string;
  caller: string;
  context: Record<string, unknown>;
}

const matchesAny = (patterns: RegExp[] | undefined, value: string) => !patterns || patterns.some((p) => p.test(value));

/** Whether the rule can match this tool for this agent, whatever the input (its `when` aside). */
function mayMatch(rule: CompiledRule, tool: ToolDefinition, who: AgentFacts): boolean {
  const m = rule.match;
  return (
    matchesAny(rule.actionPatterns, tool.name) &&
    (!m.risk || m.risk.includes(tool.risk)) &&
    matchesAny(rule.agentPatterns, who.agent) &&
    matchesAny(rule.callerPatterns, who.caller) &&
    (!m.context || Object.entries(m.context).every(([k, v]) => who.context[k] === v))
  );
}

/**
 * Whether some input of `tool` could be allowed (or approved) for this agent under `policy`: the first rule that
 * matches every input decides; a rule with a condition may let some inputs through to later rules, so it hides
 * nothing, and one that allows under a condition shows the tool.
 */
export function mayEverAllow(policy: CompiledPolicy, tool: ToolDefinition, who: AgentFacts): boolean {
  for (const rule of policy.rules) {
    if (!mayMatch(rule, tool, who)) continue;
    if (rule.decision !== 'deny') return true;
    if (!rule.condition) return false;
  }
  return policy.source.default.decision !== 'deny';
}

/** The MCP `inputSchema` of a tool: its zod input schema as JSON Schema (what a caller sends, defaults optional). */
export function inputJsonSchema(tool: ToolDefinition): { type: 'object'; [key: string]: unknown } {
  if (tool.jsonSchema) return { ...tool.jsonSchema, type: 'object' };
  const { $schema: _, ...schema } = z.toJSONSchema(tool.input, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return { ...schema, type: 'object' };
}

/** A tool as MCP's tools/list shows it. */
export interface ListedTool {
  name: string;
  title: string;
  description: string;
  inputSchema: { type: 'object'; [key: string]: unknown };
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean };
}

/** The tools this agent may ever be allowed, as MCP lists them. */
export function visibleTools(registry: ToolRegistry, policy: CompiledPolicy, who: AgentFacts): ListedTool[] {
  return registry
    .list()
    .filter((tool) => mayEverAllow(policy, tool, who))
    .map((tool) => ({
      name: tool.name,
      title: tool.name,
      description: `${tool.description} Risk: ${tool.risk}.${tool.compensate ? ' Undone by airlock_rollback.' : ''} Airlock's policy decides each call; some wait for human approval.`,
      inputSchema: inputJsonSchema(tool),
      annotations: { readOnlyHint: tool.risk === 'read', destructiveHint: tool.risk !== 'read', idempotentHint: true },
    }));
}
