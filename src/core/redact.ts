/**
 * Secrets and tokens never reach the audit store, Slack messages or the logs: everything under a credential-like key
 * is replaced (at any depth), and strings that look like credentials — in URLs, auth headers, JWTs, well-known token
 * formats — are masked wherever they appear.
 */
const SECRET_KEY =
  /(pass(word|wd)?|secret|token|api[-_]?key|access[-_]?key|authorization|cookie|private[-_]?key|credential)/i;

export const REDACTED = '[redacted]';

/** Query parameters that carry credentials: `?token=`, `access_token=`, `api_key=`, `sig=`, `X-Amz-Signature=`… */
const QUERY_CREDENTIAL =
  /([?&#;][A-Za-z0-9_.-]*?(?:token|key|sig|signature|secret|password|passwd|credential|auth)=)[^&#\s"'<>]+/gi;

const AWS_KEY_ID = /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g;

/** Regexes whose whole match is a credential. */
const TOKEN_SHAPES = [
  /\bxox[abposr]-[0-9A-Za-z-]{10,}/g, // Slack
  /\bxapp-\d-[0-9A-Za-z-]{10,}/g, // Slack app-level
  /\bgh[pousr]_[0-9A-Za-z]{30,}/g, // GitHub
  /\bgithub_pat_[0-9A-Za-z_]{40,}/g,
  /\bAIza[0-9A-Za-z_-]{35}/g, // Google API key
  /\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10,}/g, // Stripe
  AWS_KEY_ID,
  /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, // JWT (an unsigned one has no third part)
  // A clipped block (no END line) is still a key: mask to the end.
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
];

/** Regexes whose first group is kept (the label) and the rest masked. */
const LABELLED = [
  /(\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi,
  // Header lines inside strings (curl commands, logs): whatever follows the name is the credential.
  /(\b(?:proxy-)?authorization\s*[:=]\s*)[^\r\n'"]+/gi,
  /(\b(?:x-api-key|cookie)\s*[:=]\s*)[^\r\n'"]+/gi,
  /(\baws_?secret_?access_?key\s*["']?\s*[:=]\s*["']?)[A-Za-z0-9/+=]{40}/gi,
  QUERY_CREDENTIAL,
  // User-info in URLs (`https://user:pass@host`, `https://TOKEN@host`).
  /(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/?#@'"<>]+(?=@)/gi,
];

function redactString(s: string): string {
  let out = LABELLED.reduce((acc, re) => acc.replace(re, `$1${REDACTED}`), s);
  // `Basic <base64 of user:pass>`: only when it decodes to that shape, so prose ("Basic configuration") is left alone.
  out = out.replace(/(\bBasic\s+)([A-Za-z0-9+/]{6,}={0,2})/gi, (m, label: string, b64: string) =>
    Buffer.from(b64, 'base64').toString('utf8').includes(':') ? `${label}${REDACTED}` : m,
  );
  // An AWS secret key has no prefix of its own: a 40-character key in a string that also holds an access key id.
  if (new RegExp(AWS_KEY_ID.source).test(out))
    out = out.replace(/(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g, REDACTED);
  return TOKEN_SHAPES.reduce((acc, re) => acc.replace(re, REDACTED), out);
}

/** `{"$secret": "NAME"}` names a secret held by the worker: the name is what the audit should show. */
const isSecretRef = (v: unknown) =>
  !!v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && '$secret' in v;

/** Everything under a credential-like key, however deep, except `$secret` references and empty values. */
function redactAll(value: unknown): unknown {
  if (value === null || value === undefined || isSecretRef(value)) return value;
  if (Array.isArray(value)) return value.map(redactAll);
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactAll(v)]));
  return REDACTED;
}

export function redact<T>(value: T): T {
  if (typeof value === 'string') return redactString(value) as T;
  if (Array.isArray(value)) return value.map(redact) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, k !== '$secret' && SECRET_KEY.test(k) ? redactAll(v) : redact(v)]),
    ) as T;
  }
  return value;
}
