/**
 * Who may call what. Every route declares it in its Fastify route `config.auth`: public, or which kinds of principal
 * it accepts (callers are systems, persons are people of the directory, operators are people in an operator group).
 * Two hooks read that declaration: `authenticate` (onRequest) turns the bearer token into the request's principal,
 * `authorise` (a preHandler, after the rate limit and request validation, as the route handlers did before) refuses
 * a principal of a kind the route does not accept. What depends on the resource (may this caller run this agent?)
 * stays in the route, through `Access`.
 */
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Person } from '../core/people';
import type { AgentCredential, Caller, Directory } from '../people';
import { HttpError } from './http';

export type Principal =
  { kind: 'person'; person: Person } | { kind: 'caller'; caller: Caller } | { kind: 'agent'; agent: AgentCredential };
/** Agents (MCP) reach only the routes that name them: every other route refuses an agent's token. */
export type PrincipalKind = 'caller' | 'person' | 'operator' | 'agent';

export type RouteAuth =
  | { public: true }
  | {
      public?: false;
      /**
       * The web console's routes (src/console): the principal comes from the console session or the trusted proxy,
       * not a bearer token; `optional` lets an anonymous visitor in (the sign-in form).
       */
      session?: 'required' | 'optional';
      /** Kinds of principal the route accepts; every authenticated principal when omitted. */
      accepts?: PrincipalKind[];
      /** The 403 message for any other principal. */
      refusal?: string;
      /** The `WWW-Authenticate` value of a 401 (default `Bearer`). */
      challenge?: (req: FastifyRequest) => string;
    };

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
}

export class Access {
  constructor(
    readonly directory: Directory,
    /** Groups whose members may cancel any job and pull the kill switch. */
    readonly operatorGroups: string[],
  ) {}

  isOperator(p?: Principal): p is { kind: 'person'; person: Person } {
    return p?.kind === 'person' && p.person.groups.some((g) => this.operatorGroups.includes(g));
  }

  /** Callers see the jobs of agents they may run; people see every job; agents see none over /v1/. */
  mayTouchAgent(p: Principal | undefined, agent: string): boolean {
    return p?.kind === 'caller' ? this.directory.mayRun(p.caller, agent) : p?.kind === 'person';
  }

  /** Whether a principal is of one of these kinds. */
  isOfKind(p: Principal | undefined, kinds: PrincipalKind[]): boolean {
    return kinds.some((k) => (k === 'operator' ? this.isOperator(p) : p?.kind === k));
  }
}

/** The request's caller, on a route that accepts only callers. */
export function callerOf(req: FastifyRequest): Caller {
  if (req.principal?.kind !== 'caller') throw new Error(`${req.routeOptions.url} must accept only callers`);
  return req.principal.caller;
}

/** The request's agent, on a route that accepts only agents. */
export function agentOf(req: FastifyRequest): AgentCredential {
  if (req.principal?.kind !== 'agent') throw new Error(`${req.routeOptions.url} must accept only agents`);
  return req.principal.agent;
}

/** The request's person, on a route that accepts only people. */
export function personOf(req: FastifyRequest): Person {
  if (req.principal?.kind !== 'person') throw new Error(`${req.routeOptions.url} must accept only people`);
  return req.principal.person;
}

/**
 * Whether a request needs no principal: only what the route that matched declares `public`. Decided by the route
 * Fastify matched (after it decoded the path), never by the raw URL: `/%76%31/jobs` is `/v1/jobs` and needs a token.
 * A request no route matches is not public either: a stranger gets 401 for any path but the public routes, so
 * probing without a token learns nothing; an authenticated principal gets 404.
 */
export function isPublic(req: FastifyRequest): boolean {
  return !req.is404 && req.routeOptions.config.auth?.public === true;
}

/** onRequest: the request's principal from its bearer token, or 401 unless the route is public. */
export function authenticate(directory: Directory) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    // Console routes authenticate in their own scope (src/console/auth.ts), from the session.
    const auth = req.routeOptions.config.auth;
    if (isPublic(req) || (auth && !auth.public && auth.session)) return;
    const header = req.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    const who = token ? directory.byToken(token) : undefined;
    if (!who) {
      const challenge = req.routeOptions.config.auth;
      reply.header(
        'www-authenticate',
        challenge && !challenge.public && challenge.challenge ? challenge.challenge(req) : 'Bearer',
      );
      throw new HttpError(
        401,
        'unauthorized',
        token ? 'the bearer token is not valid' : 'an Authorization: Bearer <token> header is required',
      );
    }
    req.principal =
      'person' in who
        ? { kind: 'person', person: who.person }
        : 'caller' in who
          ? { kind: 'caller', caller: who.caller }
          : { kind: 'agent', agent: who.agent };
  };
}

/** preHandler: 403 when the route accepts only other kinds of principal. */
export function authorise(access: Access) {
  return async (req: FastifyRequest) => {
    const auth = req.routeOptions.config.auth;
    if (req.principal?.kind === 'agent' && !auth?.public && !auth?.accepts?.includes('agent'))
      throw new HttpError(403, 'forbidden', 'agent tokens reach only the MCP endpoint (/mcp)');
    if (!auth || auth.public || !auth.accepts) return;
    if (!access.isOfKind(req.principal, auth.accepts))
      throw new HttpError(403, 'forbidden', auth.refusal ?? `this route is for: ${auth.accepts.join(', ')}`);
  };
}

/**
 * An onRoute hook appending `authorise` to every route's preHandlers. Added after the rate limit is registered, it
 * runs after the limiter's own preHandler, so a principal of the wrong kind is still counted and limited.
 */
export function appendAuthorise(access: Access) {
  const hook = authorise(access);
  return (route: RouteOptions) => {
    const existing = route.preHandler ? [route.preHandler].flat() : [];
    route.preHandler = [...existing, hook];
  };
}
