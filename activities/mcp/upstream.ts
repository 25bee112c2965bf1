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
import { readPath, RefResolutionError } from '../../src/core/refs';
import { defineTool, type ToolDefinition } from '../tool';

const secretRef = z.strictObject({ secret: z.string().regex(/^[A-Z0-9_]+$/, 'secret names are A-Z, 0-9 and _') });
const valueOrSecret = z.union([z.string(), secretRef]);
/**
 * An argument of a compensating call: `{from: 'input.a.b'}` / `{from: 'output.id'}` reads the undone call's input or
 * output; anything else is a constant.
 */
const FROM = /^(input|output)(\.[^.]+)*$/;
const argumentMapping = z.json().superRefine((v, ctx) => {
  if (!v || typeof v !== 'object' || Array.isArray(v) || !('from' in v)) return;
  if (Object.keys(v).length !== 1 || typeof v.from !== 'string' || !FROM.test(v.from))
    ctx.addIssue({
      code: 'custom',
      message: 'a mapping is {from: input.<path>} or {from: output.<path>}, alone (a constant may not have `from`)',
    });
});
/** How to undo one upstream tool: another tool of the same server, with arguments mapped from the call. */
const compensationSchema = z.strictObject({
  tool: z.string().min(1),
  arguments: z.record(z.string(), argumentMapping).default({}),
});
const common = {
  /** Risk class of the server's tools (the policy may tell them apart by name). */
  risk: z.enum(RiskClass).default('medium'),
  /** Attempts per call: 1 unless the server's tools are known to be idempotent. */
  maximumAttempts: z.number().int().min(1).max(10).default(1),
  timeoutMs: z.number().int().positive().default(60_000),
  /** Undo for some of the server's tools, by their upstream name (`create_ticket: {tool: close_ticket, …}`). */
  compensations: z.record(z.string(), compensationSchema).default({}),
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
  const offered = new Set(tools.map((t) => t.name));
  for (const [undone, c] of Object.entries(config.compensations)) {
    for (const [field, tool] of [
      [undone, undone],
      [`${undone}.tool`, c.tool],
    ])
      if (!offered.has(tool))
        throw new Error(`upstream ${name}: compensations.${field}: the server has no tool ${JSON.stringify(tool)}`);
  }
  /** Calls one of the server's tools; an error answer is a failure naming `what`. */
  const call = async (
    tool: string,
    args: Record<string, unknown>,
    what: 'action' | 'compensation',
    signal: AbortSignal,
  ) => {
    const result = await client.callTool({ name: tool, arguments: args }, undefined, {
      signal,
      timeout: config.timeoutMs,
    });
    if (result.isError) {
      const text = (result.content as { type: string; text?: string }[])
        .map((c) => c.text ?? '')
        .join('\n')
        .slice(0, 2000);
      throw ApplicationFailure.create({
        type: FailureType.UpstreamToolError,
        // An action's error is its answer; a compensation's is retried until it succeeds (or an operator steps in).
        nonRetryable: what === 'action',
        message: `${name}.${toolPart(tool)}: ${text || 'the upstream tool failed'}`,
      });
    }
    return result;
  };
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
    const undo = config.compensations[t.name];
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
        const result = await call(t.name, args as Record<string, unknown>, 'action', ctx.signal);
        return result.structuredContent ?? { content: result.content };
      },
      ...(undo
        ? {
            async compensate(args, ctx) {
              const mapped = mapArguments(undo.arguments, { input: args, output: ctx.output }, `${toolName}`);
              await call(undo.tool, mapped, 'compensation', ctx.signal);
            },
          }
        : {}),
    });
  });
  return { tools: defined, close: () => client.close() };
}

/**
 * The compensating call's arguments: constants as given, `{from}` read from the undone call. A value that is not
 * there (an action that failed has no output) fails the compensation for good, naming it: retrying cannot find it.
 */
function mapArguments(
  mapping: Record<string, unknown>,
  call: { input: unknown; output: unknown },
  tool: string,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(mapping).map(([arg, m]) => {
      if (!m || typeof m !== 'object' || Array.isArray(m) || !('from' in m)) return [arg, m];
      const [from, ...path] = String(m.from).split('.') as ['input' | 'output', ...string[]];
      let value: unknown;
      try {
        // The same reading as a job's `$ref`s: an absent field, or one stored outside history, is named.
        value = readPath(call[from], path, m.from as string);
      } catch (err) {
        if (!(err instanceof RefResolutionError)) throw err;
        throw ApplicationFailure.create({
          type: FailureType.InvalidToolInput,
          nonRetryable: true,
          message: `${tool}: compensation argument ${arg}: ${err.message}`,
        });
      }
      if (value === undefined)
        throw ApplicationFailure.create({
          type: FailureType.InvalidToolInput,
          nonRetryable: true,
          message: `${tool}: compensation argument ${arg} reads ${String(m.from)}, which the call did not have`,
        });
      return [arg, value];
    }),
  );
}
