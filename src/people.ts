/**
 * Who is who: people with their groups and their identity on each channel (Slack user id, GitHub login, API token
 * hash), and callers (systems that submit jobs) with their token hash and the agents they may run.
 * Tokens are stored as SHA-256 hashes only; `airlock hash-token` prints one.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { PeopleDirectory, Person } from './core/people';
import { globToRegExp } from './policy/load';
import { durationSchema } from './policy/schema';
import { ConfigFileError, parseYamlConfig } from './yaml-config';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 hex digest (see `airlock hash-token`)');

export const personSchema = z.strictObject({
  name: z.string().optional(),
  groups: z.array(z.string().min(1)).default([]),
  slack: z
    .string()
    .regex(/^[UW][A-Z0-9]+$/, 'Slack user ids look like U012ABCDEF')
    .optional(),
  github: z.string().min(1).optional(),
  /** The address the console's authenticating proxy (oauth2-proxy) names this person by. */
  email: z.email().optional(),
  tokenSha256: sha256Hex.optional(),
});

export const callerSchema = z.strictObject({
  tokenSha256: sha256Hex,
  agents: z.array(z.string().min(1)).min(1, 'name the agents this caller may run (globs allowed)'),
  /** Whom the caller may name as a job's `requestedBy`: people ids and groups (globs allowed). Nobody by default. */
  mayAssert: z
    .strictObject({
      people: z.array(z.string().min(1)).default([]),
      groups: z.array(z.string().min(1)).default([]),
    })
    .optional(),
});
export type Caller = z.infer<typeof callerSchema> & { id: string };

/**
 * An agent that connects over MCP (src/api/routes/mcp.ts) with its own bearer token: each session it opens is a
 * job of kind `session` for this agent, with these limits.
 */
export const agentCredentialSchema = z.strictObject({
  tokenSha256: sha256Hex,
  /** The policy's `caller` for this agent's sessions (`mcp` by default). */
  caller: z.string().min(1).max(100).default('mcp'),
  /** The person responsible for the agent: the job's requester, who cannot approve its calls. Default: the agent. */
  requestedBy: z.string().min(1).max(100).optional(),
  /** The policy's `context` for this agent's calls. */
  context: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  /** Per session: at most this many actions, this much cost, and this long from the start. */
  budget: z
    .strictObject({
      maxActions: z.number().int().positive().optional(),
      maxCost: z.number().positive().optional(),
      maxDuration: durationSchema.optional(),
    })
    .default({}),
  /** A session ends after this long without a tool call (what it did stays). */
  idleTimeout: durationSchema.default(30 * 60_000),
});
export type AgentCredential = z.infer<typeof agentCredentialSchema> & { name: string };

const agentKey = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'agent names are 1-100 letters, digits, ".", "_" or "-"');

const idKey = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'ids are lowercase letters, digits, ".", "_" and "-"');
export const directorySchema = z
  .strictObject({
    people: z.record(idKey, personSchema).default({}),
    callers: z.record(idKey, callerSchema).default({}),
    agents: z.record(agentKey, agentCredentialSchema).default({}),
  })
  .superRefine((d, ctx) => {
    // The console's proxy names a person by email: one address must name one person.
    const seen = new Map<string, string>();
    for (const [id, p] of Object.entries(d.people)) {
      const e = p.email?.toLowerCase();
      if (!e) continue;
      if (seen.has(e))
        ctx.addIssue({ code: 'custom', path: ['people', id, 'email'], message: `${p.email} is also ${seen.get(e)}'s` });
      else seen.set(e, id);
    }
  });

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

const sameHash = (a: string, b: string) => timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));

export class Directory implements PeopleDirectory {
  private readonly people = new Map<string, Person>();
  private readonly callers = new Map<string, Caller>();
  private readonly agents = new Map<string, AgentCredential>();

  constructor(
    data: Omit<z.infer<typeof directorySchema>, 'agents'> & Partial<Pick<z.infer<typeof directorySchema>, 'agents'>>,
  ) {
    for (const [id, p] of Object.entries(data.people)) this.people.set(id, { ...p, id });
    for (const [id, c] of Object.entries(data.callers)) this.callers.set(id, { ...c, id });
    for (const [name, a] of Object.entries(data.agents ?? {})) this.agents.set(name, { ...a, name });
  }

  /** An agent's MCP credential and session limits. */
  agent(name: string): AgentCredential | undefined {
    return this.agents.get(name);
  }

  person(id: string): Person | undefined {
    return this.people.get(id);
  }

  bySlack(userId: string): Person | undefined {
    return [...this.people.values()].find((p) => p.slack === userId);
  }

  /** People in any of these groups. */
  members(groups: string[]): Person[] {
    return [...this.people.values()].filter((p) => p.groups.some((g) => groups.includes(g)));
  }

  byGithub(login: string): Person | undefined {
    const l = login.toLowerCase();
    return [...this.people.values()].find((p) => p.github?.toLowerCase() === l);
  }

  /** The person with this email address (compared case-insensitively), as the console's proxy names them. */
  byEmail(email: string): Person | undefined {
    const e = email.trim().toLowerCase();
    return e ? [...this.people.values()].find((p) => p.email?.toLowerCase() === e) : undefined;
  }

  /** The person, caller or agent a bearer token belongs to (compared as hashes, in constant time). */
  byToken(token: string): { person: Person } | { caller: Caller } | { agent: AgentCredential } | undefined {
    const h = hashToken(token);
    for (const p of this.people.values()) if (p.tokenSha256 && sameHash(p.tokenSha256, h)) return { person: p };
    for (const c of this.callers.values()) if (sameHash(c.tokenSha256, h)) return { caller: c };
    for (const a of this.agents.values()) if (sameHash(a.tokenSha256, h)) return { agent: a };
    return undefined;
  }

  /** Every token hash, with whose it is (to refuse published development tokens at start). */
  tokenHashes(): { kind: 'person' | 'caller' | 'agent'; id: string; tokenSha256: string }[] {
    return [
      ...[...this.people.values()]
        .filter((p) => p.tokenSha256)
        .map((p) => ({ kind: 'person' as const, id: p.id, tokenSha256: p.tokenSha256! })),
      ...[...this.callers.values()].map((c) => ({ kind: 'caller' as const, id: c.id, tokenSha256: c.tokenSha256 })),
      ...[...this.agents.values()].map((a) => ({ kind: 'agent' as const, id: a.name, tokenSha256: a.tokenSha256 })),
    ];
  }

  mayRun(caller: Caller, agent: string): boolean {
    return caller.agents.some((g) => globToRegExp(g).test(agent));
  }

  /** Whether the caller may assert that this person asked for a job (`mayAssert`: by id or by group). */
  mayAssert(caller: Caller, person: Person): boolean {
    const { people, groups } = caller.mayAssert ?? { people: [], groups: [] };
    return (
      people.some((g) => globToRegExp(g).test(person.id)) ||
      groups.some((g) => person.groups.some((pg) => globToRegExp(g).test(pg)))
    );
  }
}

export function loadDirectory(file: string): Directory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigFileError(file, [{ path: '', message: (err as Error).message }], 'people file');
  }
  const { data } = parseYamlConfig(
    text,
    directorySchema,
    (problems) => new ConfigFileError(file, problems, 'people file'),
  );
  return new Directory(data);
}
