/**
 * YAML files validated with zod, with every problem located by file, line and path. Used by the policy and the
 * people directory, so both report errors the same way.
 */
import { LineCounter, parseDocument, isNode as isYamlNode } from 'yaml';
import type { z } from 'zod';

export interface FileProblem {
  path: string;
  line?: number;
  column?: number;
  message: string;
}

export class ConfigFileError extends Error {
  readonly code: string = 'invalid_config_file';
  constructor(
    readonly file: string,
    readonly problems: FileProblem[],
    kind = 'file',
  ) {
    super(
      `invalid ${kind} ${file}:\n${problems
        .map((p) => `  ${file}${p.line ? `:${p.line}:${p.column}` : ''} ${p.path ? `${p.path}: ` : ''}${p.message}`)
        .join('\n')}`,
    );
    this.name = 'ConfigFileError';
  }
}

export interface ParsedYaml<T> {
  data: T;
  /** Line and column of the deepest existing node along a path, for errors found after parsing. */
  locate: (path: (string | number)[]) => { line?: number; column?: number };
}

/** Parses YAML text and validates it; throws `makeError(problems)` listing every problem. */
export function parseYamlConfig<S extends z.ZodType>(
  text: string,
  schema: S,
  makeError: (problems: FileProblem[]) => Error,
): ParsedYaml<z.infer<S>> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  const locate = (path: (string | number)[]) => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true);
      if (isYamlNode(node) && node.range) {
        const pos = lineCounter.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return {};
  };
  if (doc.errors.length) {
    throw makeError(
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { path: '', line: pos.line, column: pos.col, message: e.message.split('\n')[0] };
      }),
    );
  }
  const parsed = schema.safeParse(doc.toJS());
  if (!parsed.success) {
    throw makeError(
      parsed.error.issues.map((i) => {
        const path = i.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
        return { path: path.join('.'), ...locate(path), message: i.message };
      }),
    );
  }
  return { data: parsed.data, locate };
}
