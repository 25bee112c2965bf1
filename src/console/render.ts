/**
 * What every console page is rendered with (who is signed in, the form token, the one-time message), and the small
 * formatters templates use to say things in words: statuses, durations, times, redacted JSON.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { redact } from '../core/redact';

/** The CSRF token's user binding: the person, or nobody (the sign-in form). */
export function userInfo(req: FastifyRequest): string {
  return req.principal?.kind === 'person' ? `person:${req.principal.person.id}` : 'anonymous';
}

/** The data the layout needs; pages spread their own over it. */
export async function layoutData(req: FastifyRequest, reply: FastifyReply, title: string) {
  const flash = req.session.get('flash');
  if (flash) req.session.set('flash', undefined);
  const me = req.principal?.kind === 'person' ? req.principal.person : undefined;
  return {
    title,
    me: me ? { id: me.id, name: me.name ?? me.id, groups: me.groups } : undefined,
    via: req.consoleVia,
    csrf: reply.generateCsrf({ userInfo: userInfo(req) }),
    flash,
    path: req.url.split('?')[0],
    fmt,
  };
}

/** Redirects (303) after a form, with one sentence for the next page to show. */
export function redirectWith(req: FastifyRequest, reply: FastifyReply, to: string, flash: string) {
  req.session.set('flash', flash);
  return reply.redirect(to, 303);
}

/** Job statuses in words: the code (as the API and CLI show it) and what it means. */
export const STATUS_WORDS: Record<string, string> = {
  running: 'the job is running',
  awaiting_approval: 'the job is waiting for people to approve a step',
  succeeded: 'every step ran',
  failed: 'a step failed; what had been done was undone',
  rejected: 'a person rejected a step; what had been done was undone',
  timed_out: 'nobody decided in time, or the deadline passed; what had been done was undone',
  cancelled: 'someone cancelled the job; what had been done was undone',
  compensation_failed: 'undoing failed: a person must look at what is left',
  frozen: 'the job is paused by a freeze until it is lifted',
  RUNNING: 'the workflow is running',
  COMPLETED: 'the workflow completed',
  FAILED: 'the workflow failed',
  TERMINATED: 'the workflow was terminated',
  CANCELLED: 'the workflow was cancelled',
  TIMED_OUT: 'the workflow timed out',
};

export const STEP_WORDS: Record<string, string> = {
  pending: 'not started',
  running: 'running',
  succeeded: 'done',
  failed: 'failed',
  denied: 'denied by the policy',
  awaiting_approval: 'waiting for approval',
  rejected: 'rejected by a person',
  compensating: 'being undone',
  compensated: 'undone',
  compensation_failed: 'undoing failed',
};

/** Statuses after which a job changes no more. */
export const FINAL_STATUSES = new Set([
  'succeeded',
  'failed',
  'rejected',
  'timed_out',
  'cancelled',
  'compensation_failed',
  'COMPLETED',
  'FAILED',
  'TERMINATED',
  'CANCELLED',
  'TIMED_OUT',
]);

/** "3 minutes", "2 hours 5 minutes", "40 seconds". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const parts: [number, string][] = [
    [Math.floor(s / 86400), 'day'],
    [Math.floor((s % 86400) / 3600), 'hour'],
    [Math.floor((s % 3600) / 60), 'minute'],
  ];
  const words = parts.filter(([n]) => n > 0).map(([n, u]) => `${n} ${u}${n === 1 ? '' : 's'}`);
  if (!words.length) return `${s} second${s === 1 ? '' : 's'}`;
  return words.slice(0, 2).join(' ');
}

export const fmt = {
  /** "in 59 minutes" / "5 minutes ago". */
  relative(iso: string | undefined, now = Date.now()): string {
    if (!iso) return '';
    const d = Date.parse(iso) - now;
    return d >= 0 ? `in ${duration(d)}` : `${duration(-d)} ago`;
  },
  /** 2025-01-02 10:04:05 UTC */
  time(iso: string | Date | undefined): string {
    if (!iso) return '';
    const d = typeof iso === 'string' ? new Date(iso) : iso;
    return d
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ' UTC');
  },
  took(a?: string, b?: string): string {
    return a && b ? duration(Date.parse(b) - Date.parse(a)) : '';
  },
  /** A value as indented JSON, secrets redacted. */
  json(value: unknown): string {
    return value === undefined ? '' : JSON.stringify(redact(value), null, 2);
  },
  status(code: string): string {
    return STATUS_WORDS[code] ?? code;
  },
  step(code: string): string {
    return STEP_WORDS[code] ?? code;
  },
  /** The short form of a policy version or digest, as people compare them. */
  short(hash: string | undefined): string {
    return hash ? hash.replace(/^sha256:/, '').slice(0, 12) : '';
  },
};
