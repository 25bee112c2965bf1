/**
 * `{"$ref": "steps.<id>.output.<path>"}` references between steps. Pure code: used by submission-time validation and,
 * inside the workflow, to resolve a step's input from earlier outputs.
 */
import { FIELD_INLINE_BYTES, isStoredField, type StoredField } from './outputs';

export interface RefLocation {
  /** Where the `$ref` object sits inside the step input. */
  path: (string | number)[];
  ref: string;
}

export interface ParsedRef {
  stepId: string;
  /** Path below `output`. */
  outputPath: string[];
}

const REF_PATTERN = /^steps\.([A-Za-z0-9_-]+)\.output((?:\.[A-Za-z0-9_-]+)*)$/;

export function isRef(value: unknown): value is { $ref: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.keys(value).length === 1 &&
    typeof (value as { $ref?: unknown }).$ref === 'string'
  );
}

/** Parses `steps.<id>.output[.path...]`; undefined when the string is not of that form. */
export function parseRef(ref: string): ParsedRef | undefined {
  const m = REF_PATTERN.exec(ref);
  if (!m) return undefined;
  return { stepId: m[1], outputPath: m[2] ? m[2].slice(1).split('.') : [] };
}

/** Every `$ref` object inside a value, with its location. */
export function findRefs(value: unknown, path: (string | number)[] = []): RefLocation[] {
  if (isRef(value)) return [{ path, ref: value.$ref }];
  if (Array.isArray(value)) return value.flatMap((v, i) => findRefs(v, [...path, i]));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => findRefs(v, [...path, k]));
  }
  return [];
}

export class RefResolutionError extends Error {
  constructor(
    message: string,
    readonly ref: string,
  ) {
    super(message);
    this.name = 'RefResolutionError';
  }
}

/** `path` within `value` (throws RefResolutionError naming `ref` when absent or stored outside history). */
export function readPath(value: unknown, path: string[], ref: string): unknown {
  let current = value;
  for (const key of path) {
    if (isStoredField(current)) throw storedError(ref, current);
    if (current === null || typeof current !== 'object' || !(key in current)) {
      throw new RefResolutionError(`${ref}: no field "${key}" in the output`, ref);
    }
    current = (current as Record<string, unknown>)[key];
  }
  if (isStoredField(current)) throw storedError(ref, current);
  return current;
}

function storedError(ref: string, field: StoredField): RefResolutionError {
  return new RefResolutionError(
    `${ref}: this part of the output (${field.$stored.bytes} bytes) was too large for workflow history and is stored ` +
      `outside it; a $ref may address only fields kept inline (up to ${FIELD_INLINE_BYTES} bytes each)`,
    ref,
  );
}

/** Replaces every `$ref` in `value` with the referenced output. Throws RefResolutionError when it cannot. */
export function resolveRefs<T>(value: T, outputs: Readonly<Record<string, unknown>>): T {
  if (isRef(value)) {
    const parsed = parseRef(value.$ref);
    if (!parsed) throw new RefResolutionError(`${value.$ref}: not of the form steps.<id>.output.<path>`, value.$ref);
    if (!(parsed.stepId in outputs)) {
      throw new RefResolutionError(`${value.$ref}: step "${parsed.stepId}" has no output yet`, value.$ref);
    }
    return readPath(outputs[parsed.stepId], parsed.outputPath, value.$ref) as T;
  }
  if (Array.isArray(value)) return value.map((v) => resolveRefs(v, outputs)) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveRefs(v, outputs)])) as T;
  }
  return value;
}
