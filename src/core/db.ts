/** The SQL database the audit store and the channels' small tables use: PostgreSQL, or PGlite for `airlock dev`. */
export interface Queryable {
  /**
   * `name`: a statement run often with the same text, prepared once per connection under that name and then only
   * executed (PostgreSQL skips parsing and planning it again). One name, one text.
   */
  query<R = Record<string, unknown>>(text: string, params?: unknown[], name?: string): Promise<{ rows: R[] }>;
}

export interface Database extends Queryable {
  /** Several statements separated by `;` (migrations). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
  readonly kind: 'postgres' | 'pglite';
}

/**
 * SQLSTATE classes a retry cannot fix: the statement itself is refused (data exceptions such as 22P05 untranslatable
 * character or 22021 bad encoding, integrity violations, syntax or access errors, program limits such as 54001
 * statement too complex, feature not supported). Connection, resource and serialization errors are transient.
 */
const PERMANENT_SQLSTATE_CLASSES = ['0A', '22', '23', '42', '54'];

/** The SQLSTATE of a database error that no retry can fix, or undefined (transient, or not a database error). */
export function permanentSqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return undefined;
  return PERMANENT_SQLSTATE_CLASSES.includes(code.slice(0, 2)) ? code : undefined;
}
