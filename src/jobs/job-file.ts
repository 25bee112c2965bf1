/** Job files for the CLI and the demo: JSON with `{{name}}` placeholders filled from `--set name=value`. */
import { readFileSync } from 'node:fs';

export function fillPlaceholders(value: unknown, vars: Record<string, string>, missing: Set<string>): unknown {
  if (typeof value === 'string') {
    return value.replace(/\{\{([A-Za-z0-9_]+)\}\}/g, (whole, name: string) => {
      if (name in vars) return vars[name];
      missing.add(name);
      return whole;
    });
  }
  if (Array.isArray(value)) return value.map((v) => fillPlaceholders(v, vars, missing));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillPlaceholders(v, vars, missing)]));
  }
  return value;
}

export function readJobFile(path: string, vars: Record<string, string> = {}): unknown {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  const missing = new Set<string>();
  const job = fillPlaceholders(raw, vars, missing);
  if (missing.size) {
    throw new Error(`${path}: no value for ${[...missing].map((m) => `{{${m}}}`).join(', ')} (pass --set name=value)`);
  }
  return job;
}
