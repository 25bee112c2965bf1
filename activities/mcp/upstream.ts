/**
 * Gateway to upstream MCP servers: each configured server (a stdio command or a Streamable HTTP URL) is connected
 * with the official SDK client, and each of its tools becomes a governed Airlock tool `<server>.<tool>`: planned,
 * decided by the policy, approved, audited like any other. Credentials (environment of the command, headers of the
 * URL) come from the worker's secrets (`{secret: NAME}` = AIRLOCK_SECRET_<NAME>) and never reach the agent or history.
 */
import { ApplicationFailure } from '@temporalio/common';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { z } from 'zod';
import { RiskClass } from '../../src/core/decision';
import { FailureType } from '../../src/core/failures';
import { defineTool, type ToolDefinition } from '../tool';

const secretRef = z.strictObject({ secret: z.string().regex(/^[A-Z0-9_]+$/, 'secret names are A-Z, 0-9 and _') });
const valueOrSecret = z.union([z.string(), secretRef]);
const common = {
  /** Risk class of the server's tools (the policy may tell them apart by name). */
  risk: z.enum(RiskClass).default('medium'),
  /** Attempts per call: 1 unless the server's tools are known to be idempotent. */
  maximumAttempts: z.number().int().min(1).max(10).default(1),
  timeoutMs: z.number().int().positive().default(60_000),
};
export const upstreamSchema = z.union([
  z.strictObject({
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), valueOrSecret).default({}),
    cwd: z.string().optional(),
    ...common,
  }),
  z.strictObject({
    url: z.url({ protocol: /^https?$/ }),
    headers: z.record(z.string(), valueOrSecret).default({}),
    ...common,
  }),
]);
export type UpstreamConfig = z.infer<typeof upstreamSchema>;

/** `files`, `search_v2`: server names become the tools' family. */
export const upstreamName = z.string().regex(/^[a-z][a-z0-9_]*$/, 'server names are lowercase letters, digits and _');

/** A connected upstream server and its tools as Airlock tools. */
export interface Upstream {
  tools: ToolDefinition[];
  close(): Promise<void>;
}

const toolPart = (name: string) =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .replace(/^[^a-z]+/, '') || 'tool';

/** Connects to one upstream server and lists its tools. */
export async function connectUpstream(
  name: string,
  config: UpstreamConfig,
  secret: (name: string) => string | undefined,
): Promise<Upstream> {
  const resolve = (values: Record<string, string | { secret: string }>) =>
    Object.fromEntries(
      Object.entries(values).map(([k, v]) => {
        if (typeof v === 'string') return [k, v];
        const value = secret(v.secret);
        if (value === undefined)
          throw new Error(`upstream ${name}: secret ${v.secret} is not set (AIRLOCK_SECRET_${v.secret})`);
        return [k, value];
      }),
    );
  const transport =
    'command' in config
      ? new StdioClientTransport({
          command: config.command,
          args: config.args,
          env: { ...getDefaultEnvironment(), ...resolve(config.env) },
          ...(config.cwd ? { cwd: config.cwd } : {}),
          stderr: 'ignore',
        })
      : new StreamableHTTPClientTransport(new URL(config.url), { requestInit: { headers: resolve(config.headers) } });
  const client = new Client({ name: 'airlock-gateway', version: '1' });
  await client.connect(transport);
  const { tools } = await client.listTools();
  const seen = new Set<string>();
  const defined = tools.map((t) => {
    const toolName = `${name}.${toolPart(t.name)}`;
    if (seen.has(toolName)) throw new Error(`upstream ${name}: two tools become ${toolName}`);
    seen.add(toolName);
    let input: z.ZodType;
    try {
      input = z.fromJSONSchema(t.inputSchema as never);
    } catch {
      input = z.record(z.string(), z.unknown()); // a schema zod cannot read: the upstream checks its input
    }
    return defineTool({
      name: toolName,
      description: `${t.description ?? t.name} (upstream MCP server ${name})`,
      risk: config.risk,
      input,
      output: z.unknown(),
      idempotency: `as the upstream server ${name} makes it; retried only when configured (maximumAttempts)`,
      timeouts: { startToCloseMs: config.timeoutMs },
      retry: { maximumAttempts: config.maximumAttempts },
      jsonSchema: t.inputSchema,
      async execute(args, ctx) {
        const result = await client.callTool({ name: t.name, arguments: args as Record<string, unknown> }, undefined, {
          signal: ctx.signal,
          timeout: config.timeoutMs,
        });
        if (result.isError) {
          const text = (result.content as { type: string; text?: string }[])
            .map((c) => c.text ?? '')
            .join('\n')
            .slice(0, 2000);
          throw ApplicationFailure.create({
            type: FailureType.UpstreamToolError,
            nonRetryable: true,
            message: `${toolName}: ${text || 'the upstream tool failed'}`,
          });
        }
        return result.structuredContent ?? { content: result.content };
      },
    });
  });
  return { tools: defined, close: () => client.close() };
}
