/**
 * Secrets and tokens never reach the audit store or the logs: values under credential-like keys are replaced, and
 * strings that look like well-known token formats are masked wherever they appear.
 */
const SECRET_KEY = /(pass(word)?|secret|token|api[-_]?key|authorization|cookie|private[-_]?key|credential)/i;
const TOKEN_SHAPES = [
  /xox[abposr]-[0-9A-Za-z-]{10,}/g, // Slack
  /gh[pousr]_[0-9A-Za-z]{30,}/g, // GitHub
  /github_pat_[0-9A-Za-z_]{40,}/g,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/g,
];

export const REDACTED = '[redacted]';

export function redact<T>(value: T): T {
  if (typeof value === 'string') return TOKEN_SHAPES.reduce((s, re) => s.replace(re, REDACTED), value as string) as T;
  if (Array.isArray(value)) return value.map(redact) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      // `{"$secret": "NAME"}` names a secret held by the worker: the name is what the audit should show.
      Object.entries(value).map(([k, v]) => [
        k,
        k !== '$secret' && SECRET_KEY.test(k) && typeof v !== 'object' ? REDACTED : redact(v),
      ]),
    ) as T;
  }
  return value;
}
