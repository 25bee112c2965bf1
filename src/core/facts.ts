/**
 * Rules judge canonical facts, not raw strings: a shell command as normalised argv (program, flag set, paths), paths
 * resolved to real absolute paths, URLs parsed into scheme/host/port. A substring rule for `rm -rf /` is beaten by
 * `rm -fr /`; a flag-set rule is not. `/workspace/../etc/shadow` resolves to `/etc/shadow`.
 */
import { existsSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parse as parseShell } from 'shell-quote';
import type { PolicyRequest, RiskClass } from './decision';
import { normaliseHost } from './hosts';

/** Commands that run another command: `sudo rm -rf /` is judged as `rm -rf /` (and as `sudo`). */
const WRAPPERS = new Set([
  'sudo',
  'env',
  'nice',
  'nohup',
  'command',
  'exec',
  'busybox',
  'timeout',
  'doas',
  'xargs',
  'stdbuf',
]);
const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'ash', 'fish']);
/** Long flags that mean a short one, for the commands where it matters. */
const LONG_FLAGS: Record<string, Record<string, string>> = {
  rm: { recursive: 'r', force: 'f', dir: 'd' },
  chmod: { recursive: 'R' },
  chown: { recursive: 'R' },
  cp: { recursive: 'r', force: 'f' },
  mv: { force: 'f' },
  git: { force: 'f' },
};
const EQUIVALENT_SHORT: Record<string, Record<string, string>> = { rm: { R: 'r' }, cp: { R: 'r' } };

export interface CommandFacts {
  /** Innermost program, by base name (`/bin/rm` → `rm`). */
  program: string;
  /** Every program in the chain of wrappers, outermost first (`sudo`, `env`, `rm`). */
  programs: string[];
  /** Flags as a set of names: `-rf`, `-fr`, `-r -f`, `--recursive --force` all give `f`, `r`. */
  flags: string[];
  /** Positional arguments. */
  args: string[];
}

export interface ShellFacts extends CommandFacts {
  argv: string[];
  cwd: string;
  /** Commands found inside `sh -c '…'` scripts, normalised the same way. */
  commands: CommandFacts[];
  /** True when a script uses what cannot be judged statically (substitution, globs, redirection to variables…). */
  opaque: boolean;
}

export interface HttpFacts {
  method: string;
  scheme: string;
  host: string;
  port: number;
  path: string;
}

/** What the policy activity was asked, plus what it derived: risk, cost and the normalised facts. */
export interface ActionFacts extends Omit<PolicyRequest, 'jobId' | 'stepId' | 'decisionNo' | 'requestId'> {
  risk: RiskClass;
  cost: number;
  shell: ShellFacts | null;
  http: HttpFacts | null;
  /** Real absolute paths the action touches (shell cwd and path arguments, git repositories). */
  paths: string[];
}

/** Resolves `..` and symlinks of the longest existing prefix, so a path cannot hide where it points. */
export function realPath(path: string, base = '/'): string {
  const absolute = resolve(base, path);
  let existing = absolute;
  const rest: string[] = [];
  while (!existsSync(existing) && existing !== dirname(existing)) {
    rest.unshift(basename(existing));
    existing = dirname(existing);
  }
  let real = existing;
  try {
    real = realpathSync(existing);
  } catch {
    // unreadable: keep the lexical path
  }
  return rest.length ? join(real, ...rest) : real;
}

export function isUnder(path: string, root: string): boolean {
  const rel = relative(realPath(root), path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function normaliseCommand(argv: string[]): CommandFacts {
  const programs: string[] = [];
  let i = 0;
  // Unwrap wrappers: skip their own flags and VAR=value assignments (and timeout's duration).
  while (i < argv.length) {
    const name = basename(argv[i]);
    programs.push(name);
    if (!WRAPPERS.has(name)) break;
    i++;
    while (i < argv.length && (argv[i].startsWith('-') || /^[A-Za-z_][A-Za-z0-9_]*=/.test(argv[i]))) i++;
    if (name === 'timeout' && i < argv.length && /^\d/.test(argv[i])) i++;
  }
  const program = programs[programs.length - 1] ?? '';
  const flags = new Set<string>();
  const args: string[] = [];
  let endOfFlags = false;
  for (const arg of argv.slice(i + 1)) {
    if (endOfFlags || arg === '-' || !arg.startsWith('-')) {
      args.push(arg);
    } else if (arg === '--') {
      endOfFlags = true;
    } else if (arg.startsWith('--')) {
      const long = arg.slice(2).split('=')[0];
      flags.add(LONG_FLAGS[program]?.[long] ?? long);
    } else {
      for (const c of arg.slice(1)) flags.add(EQUIVALENT_SHORT[program]?.[c] ?? c);
    }
  }
  return { program, programs, flags: [...flags].sort(), args };
}

/** Splits a `sh -c` script into commands; anything it cannot judge statically makes the facts opaque. */
function scriptCommands(script: string): { commands: CommandFacts[]; opaque: boolean } {
  const commands: CommandFacts[] = [];
  let opaque = false;
  let current: string[] = [];
  const flush = () => {
    if (current.length) commands.push(normaliseCommand(current));
    current = [];
  };
  for (const token of parseShell(script, (name) => `$${name}`)) {
    if (typeof token === 'string') {
      if (token.includes('$')) opaque = true;
      current.push(token);
    } else if ('op' in token) {
      if (token.op === 'glob') {
        opaque = true;
        current.push((token as { pattern: string }).pattern);
      } else if (['(', ')', '<(', '>'].includes(token.op) || token.op.startsWith('>') || token.op.startsWith('<')) {
        opaque = opaque || token.op === '(' || token.op === '<(';
        flush();
      } else flush(); // ; && || | &
    } else opaque = true; // comments and other special tokens
  }
  flush();
  if (/`|\$\(/.test(script)) opaque = true;
  return { commands, opaque };
}

export function shellFacts(argv: string[], cwd: string): ShellFacts {
  const top = normaliseCommand(argv);
  const commands: CommandFacts[] = [top];
  let opaque = false;
  if (SHELLS.has(top.program)) {
    const c = argv.indexOf('-c');
    const script = c >= 0 ? argv[c + 1] : undefined;
    if (script !== undefined) {
      const inner = scriptCommands(script);
      commands.push(...inner.commands);
      opaque = inner.opaque;
    } else if (top.args.length === 0) opaque = true; // an interactive shell reads its commands from elsewhere
  }
  return { ...top, argv, cwd: realPath(cwd), commands, opaque };
}

/** Paths a shell command names: its cwd and the arguments that look like paths, resolved against the cwd. */
export function shellPaths(facts: ShellFacts): string[] {
  const looksLikePath = (a: string) => a.startsWith('/') || a.startsWith('.') || a.startsWith('~') || a.includes('/');
  const paths = new Set([facts.cwd]);
  for (const cmd of facts.commands)
    for (const a of cmd.args.filter(looksLikePath)) paths.add(realPath(a.replace(/^~(?=\/|$)/, homedir()), facts.cwd));
  return [...paths];
}

export function httpFacts(method: string, url: string): HttpFacts | null {
  try {
    const u = new URL(url);
    return {
      method: method.toUpperCase(),
      scheme: u.protocol.replace(':', ''),
      // `API.example.com.` is `api.example.com`: a rule on the host cannot be dodged by spelling.
      host: normaliseHost(u.hostname),
      port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80,
      path: u.pathname,
    };
  } catch {
    return null;
  }
}

/** Builds the facts a policy judges for one action. */
export function actionFacts(req: Omit<ActionFacts, 'shell' | 'http' | 'paths'>): ActionFacts {
  const { input } = req;
  let shell: ShellFacts | null = null;
  let http: HttpFacts | null = null;
  const paths: string[] = [];
  if (req.action === 'shell.run' && Array.isArray(input.argv) && typeof input.cwd === 'string') {
    shell = shellFacts(input.argv.map(String), input.cwd);
    paths.push(...shellPaths(shell));
  }
  if (typeof input.url === 'string') http = httpFacts(String(input.method ?? 'GET'), input.url);
  if (typeof input.repo === 'string') paths.push(realPath(input.repo));
  return { ...req, shell, http, paths };
}

/** A `deniedCommands` entry (`rm -rf`) in the same normal form as a command. */
export function normaliseDenied(text: string): CommandFacts & { text: string } {
  return { ...normaliseCommand(parseShell(text).filter((t): t is string => typeof t === 'string')), text };
}
