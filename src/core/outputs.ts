/**
 * Keeping tool outputs out of workflow history when they are large (faults-v1). Temporal refuses a payload over
 * 2 MiB (and a gRPC message over 4 MB), and an action's result is recorded only after it acted: an oversized output
 * would fail the job after the side effect. So the action's activity is told, before acting, how many bytes of output
 * may enter history (`ToolCall.outputLimit`); a larger output is stored whole in the database (StoredOutputs, keyed by
 * job and step, written before the activity returns), and history gets a bounded copy: each top-level field kept
 * when small, a large one replaced by a StoredField marker (its size, digest and a preview).
 *
 * `$ref`s may address only fields kept inline: a ref reaching a marker fails with a RefResolution error naming the
 * field (src/core/refs.ts), never silently with the preview. The whole output is `GET /v1/jobs/:id/outputs/:step`.
 */

/** Output bytes one step may put into history. */
export const OUTPUT_INLINE_BYTES = 64 * 1024;
/** Output bytes all steps together may put into history: the job's result and its state query stay well below 2 MiB. */
export const OUTPUTS_TOTAL_BYTES = 1024 * 1024;
/** A top-level field of a stored output is kept inline up to this size (exit codes, status, small headers). */
export const FIELD_INLINE_BYTES = 4 * 1024;
/** Characters of a stored field's preview. */
export const PREVIEW_CHARS = 1024;

/** Where a large field went: the marker left in its place. */
export interface StoredField {
  $stored: {
    /** Bytes of the field as JSON. */
    bytes: number;
    /** `sha256:<hex>` of the whole output (as the `action.finished` audit event's outputDigest). */
    outputDigest: string;
  };
  /** The start of the field (a string's text, otherwise its JSON). */
  preview: string;
}

export function isStoredField(value: unknown): value is StoredField {
  return typeof value === 'object' && value !== null && '$stored' in value && 'preview' in value;
}

/** UTF-8 bytes of a value's JSON (workflow-safe: no Buffer, no TextEncoder). */
export function jsonBytes(value: unknown): number {
  const s = JSON.stringify(value) ?? 'null';
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * The copy of `output` that may enter history within `limit` bytes: the output itself when small enough; otherwise
 * its small top-level fields and a StoredField per large one (or one StoredField for the whole, when that is not
 * enough or it is no object). `stored` says whether the caller must store the whole output first.
 */
export function boundOutput(
  output: unknown,
  limit: number,
  outputDigest: string,
): { inline: unknown; stored: boolean } {
  if (jsonBytes(output) <= limit) return { inline: output, stored: false };
  const marker = (value: unknown): StoredField => ({
    $stored: { bytes: jsonBytes(value), outputDigest },
    preview: (typeof value === 'string' ? value : (JSON.stringify(value) ?? '')).slice(0, PREVIEW_CHARS),
  });
  if (typeof output === 'object' && output !== null && !Array.isArray(output)) {
    const inline = Object.fromEntries(
      Object.entries(output).map(([k, v]) => [k, jsonBytes(v) <= FIELD_INLINE_BYTES ? v : marker(v)]),
    );
    if (jsonBytes(inline) <= limit) return { inline, stored: true };
  }
  return { inline: marker(output), stored: true };
}

/** Whole outputs too large for history, by job and step (the audit database's `step_outputs`). */
export interface StoredOutputs {
  put(jobId: string, stepId: string, output: unknown, outputDigest: string): Promise<void>;
  get(jobId: string, stepId: string): Promise<{ output: unknown; outputDigest: string; bytes: number } | undefined>;
}
