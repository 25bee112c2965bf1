/**
 * Rules judge canonical facts, not raw strings: a shell command as normalised argv (program, flag set, paths), paths
 * resolved to real absolute paths, URLs parsed into scheme/host/port. A substring rule for `rm -rf /` is beaten by
 * `rm -fr /`; a flag-set rule is not. `/workspace/../etc/shadow` resolves to `/etc/shadow`.
 *
 * Scripts (`sh -c '…'`) are parsed with a real shell parser (mvdan-sh), so every command inside them is judged,
 * wherever it sits (`;`, newlines, `&&`, pipes, `if`, subshells, functions). What cannot be judged statically
 * (expansions, `eval`, a script read from a file or stdin, inline code for an interpreter) is reported as
 * `opaque` with reasons, never guessed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { LRUCache } from 'lru-cache';
import { syntax, type Node as ShNode } from 'mvdan-sh';
import type { PolicyRequest, RiskClass } from './decision';
import { normaliseHost } from './hosts';

/** Where a bare program name is looked up: the sandbox's PATH (activities/shell/run.ts). */
export const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * Commands that run another command, with the options of theirs that take a value (short letters, long names) and
 * how many operands come before the command (`timeout 10 cmd`, `chrt 5 cmd`). `script` is the option whose value
 * is a shell script (`su -c '…'`). `env -S` splits its value into argv.
 */
interface WrapperSpec {
  short?: string;
  long?: string[];
  operands?: number;
  script?: string;
}
const WRAPPERS: Record<string, WrapperSpec> = {
  sudo: {
    short: 'ugCDhprtTU',
    long: ['user', 'group', 'close-from', 'chdir', 'host', 'prompt', 'role', 'type', 'command-timeout', 'other-user'],
  },
  doas: { short: 'uC' },
  pkexec: { long: ['user'] },
  env: { short: 'uCS', long: ['unset', 'chdir', 'split-string', 'block-signal', 'default-signal', 'ignore-signal'] },
  nice: { short: 'n', long: ['adjustment'] },
  nohup: {},
  command: {},
  builtin: {},
  exec: { short: 'a' },
  time: { short: 'fo', long: ['format', 'output'] },
  timeout: { short: 'sk', long: ['signal', 'kill-after'], operands: 1 },
  xargs: {
    short: 'adEeIiLlnPs',
    long: [
      'arg-file',
      'delimiter',
      'eof',
      'replace',
      'max-lines',
      'max-args',
      'max-procs',
      'max-chars',
      'process-slot-var',
    ],
  },
  stdbuf: { short: 'ioe', long: ['input', 'output', 'error'] },
  setsid: {},
  ionice: { short: 'cnpPu', long: ['class', 'classdata', 'pid', 'pgid', 'uid'] },
  chrt: { short: 'TPD', long: ['sched-runtime', 'sched-period', 'sched-deadline'], operands: 1 },
  taskset: { operands: 1 },
  flock: { short: 'wEc', long: ['timeout', 'conflict-exit-code', 'command'], operands: 1, script: 'c' },
  unbuffer: {},
  strace: { short: 'abeEoOpPsSuUX', long: ['output', 'attach', 'user', 'env'] },
  ltrace: { short: 'aAeEfnolpsSuwX', long: ['output'] },
  chroot: { long: ['userspec', 'groups'], operands: 1 },
  unshare: { short: 'S', long: ['setuid', 'setgid', 'wd', 'root', 'propagation'] },
  nsenter: { short: 'tSGrw', long: ['target', 'setuid', 'setgid', 'root', 'wd'] },
  su: { short: 'cgGsw', long: ['command', 'group', 'supp-group', 'shell', 'whitelist-environment'], script: 'c' },
  runuser: { short: 'cgGsuw', long: ['command', 'group', 'supp-group', 'shell', 'user'], script: 'c' },
  sg: { operands: 1 },
  script: { short: 'cEIOT', long: ['command', 'echo', 'log-in', 'log-out', 'log-timing'], script: 'c' },
  watch: { short: 'nq', long: ['interval', 'equexit'] },
  fakeroot: { short: 'lsi', long: ['lib', 'faked'] },
  firejail: {},
  eatmydata: {},
  faketime: { short: 'f', operands: 1 },
  numactl: { short: 'CiNmlp', long: ['cpunodebind', 'interleave', 'membind', 'physcpubind', 'preferred'] },
  catchsegv: {},
  valgrind: {},
  'dbus-run-session': {},
  proot: { short: 'rbwq', long: ['rootfs', 'bind', 'pwd', 'qemu'] },
  busybox: {},
};
/** Su and runuser take a user name operand before an optional command. */
const USER_OPERAND = new Set(['su', 'runuser']);
const SHELLS = new Set([
  'sh',
  'bash',
  'dash',
  'zsh',
  'ksh',
  'mksh',
  'ash',
  'fish',
  'rbash',
  'yash',
  'posh',
  'csh',
  'tcsh',
]);
/** Programs that run inline code given as an option value (`python -c`, `node -e`): the code cannot be judged. */
const INTERPRETERS: Record<string, string> = {
  python: 'c',
  perl: 'eE',
  ruby: 'e',
  node: 'ep',
  nodejs: 'ep',
  deno: '',
  bun: 'e',
  php: 'rR',
  lua: 'e',
  tclsh: '',
  pwsh: 'c',
  osascript: 'e',
};
const AWKS = new Set(['awk', 'gawk', 'mawk', 'nawk']);
/** Multi-call binaries: the name they were invoked by is what they run. */
const MULTICALL = new Set(['busybox', 'coreutils', 'toybox']);
/** Builtins that run code the policy cannot see. */
const OPAQUE_BUILTINS = new Set(['eval', 'source', '.', 'trap', 'alias', 'fc', 'coproc', 'enable']);
const MAX_DEPTH = 6;

/**
 * Every long option of the commands where a flag matters, with the short flag it means. getopt accepts any unique
 * prefix (`--rec`); an ambiguous prefix counts as every option it could mean, so it can only deny more.
 */
const LONG_FLAGS: Record<string, Record<string, string>> = {
  rm: {
    recursive: 'r',
    force: 'f',
    dir: 'd',
    interactive: 'i',
    verbose: 'v',
    'one-file-system': 'one-file-system',
    'no-preserve-root': 'no-preserve-root',
    'preserve-root': 'preserve-root',
    help: 'help',
    version: 'version',
  },
  chmod: { recursive: 'R', changes: 'c', silent: 's', quiet: 'f', verbose: 'v', reference: 'reference' },
  chown: { recursive: 'R', changes: 'c', silent: 's', quiet: 'f', verbose: 'v', dereference: 'dereference' },
  cp: { recursive: 'r', force: 'f', archive: 'a', link: 'l', 'no-dereference': 'P', verbose: 'v', target: 't' },
  mv: { force: 'f', interactive: 'i', verbose: 'v', target: 't', 'no-clobber': 'n' },
  git: {
    force: 'f',
    'force-with-lease': 'force-with-lease',
    'force-if-includes': 'force-if-includes',
    'follow-tags': 'follow-tags',
    delete: 'd',
    all: 'all',
    mirror: 'mirror',
    tags: 'tags',
  },
};
const EQUIVALENT_SHORT: Record<string, Record<string, string>> = { rm: { R: 'r' }, cp: { R: 'r' } };

export interface CommandFacts {
  /** Innermost program by the name it was invoked with (`/bin/rm` → `rm`). */
  program: string;
  /** Every name the innermost program is known by: invoked name and the resolved file's name (symlinks). */
  names: string[];
  /** The innermost program's resolved file, when it exists (identity beyond names: hardlinks, copies). */
  file?: string;
  /** Every program in the chain of wrappers, outermost first (`sudo`, `env`, `rm`). */
  programs: string[];
  /** Flags as a set of names: `-rf`, `-fr`, `-r -f`, `--recursive --force`, `--rec --forc` all give `f`, `r`. */
  flags: string[];
  /** Positional arguments. */
  args: string[];
  /** This command's own argv, wrappers included, as it will run. */
  argv: string[];
}

export interface ShellFacts extends CommandFacts {
  argv: string[];
  cwd: string;
  /** The command itself and every command found inside scripts it runs, normalised the same way. */
  commands: CommandFacts[];
  /** True when some part cannot be judged statically; `opaqueReasons` says which. */
  opaque: boolean;
  opaqueReasons: string[];
  /** Files written by redirections (`> f`, `>> f`, `2> f`, `&> f`), as real absolute paths. */
  writes: string[];
  /** Every path the command names, before resolving (arguments, option values, redirect targets). */
  pathArgs: string[];
  /** Directories relative paths may be resolved against (cwd, and `cd`/`env -C`/`sudo -D` targets). */
  dirs: string[];
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
  /** GitHub actions (`github.*`): which repository, branches, pull request and files. */
  github: GithubFacts | null;
  /** Real absolute paths the action touches (shell cwd, path arguments and redirect targets, git repositories). */
  paths: string[];
  /** The environment the action asks for (`input.env`), names and values; empty when none. */
  env: Record<string, string>;
}

/**
 * What a GitHub action touches, from its input: `repo` (owner/name, lowercase), `branch` (the branch written or the
 * PR head), `base` (the PR base), `pr` (number, 0 when none), `changedPaths` (files a commit writes or deletes,
 * normalised: no leading `./` or `/`, `..` resolved), so a rule can say
 * `github.changedPaths.exists(p, p.startsWith("infra/"))`; for a workflow dispatch, `ref` (the branch or tag it runs
 * on) and `workflow` (its file name or id, as given): `github.workflow == "deploy.yml" && github.ref == "main"`.
 */
export interface GithubFacts {
  repo: string;
  branch: string;
  base: string;
  pr: number;
  changedPaths: string[];
  ref: string;
  workflow: string;
}

/** A repository path as a rule should see it: `./infra/../infra//x` → `infra/x`. */
export function repoPath(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out.join('/');
}

export function githubFacts(input: Record<string, unknown>): GithubFacts {
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const files = Array.isArray(input.files) ? input.files : [];
  return {
    repo: str(input.repo).toLowerCase(),
    branch: str(input.branch) || str(input.head),
    base: str(input.base),
    pr: Number.isInteger(input.number) ? (input.number as number) : 0,
    changedPaths: files
      .map((f) => (f && typeof f === 'object' ? str((f as Record<string, unknown>).path) : ''))
      .filter(Boolean)
      .map(repoPath),
    ref: str(input.ref),
    workflow: typeof input.workflow === 'number' ? String(input.workflow) : str(input.workflow),
  };
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

/**
 * File-system answers are kept for a second: one decision asks about the same programs many times (each word
 * against each denied command). The sandbox, not this cache, is what holds when a file changes after the decision.
 */
const fileCache = new LRUCache<string, { file: string | null }>({ max: 4096, ttl: 1000 });
const sameCache = new LRUCache<string, boolean>({ max: 4096, ttl: 1000 });

/** The file a program name runs: a path resolved against cwd, or a bare name looked up in SEARCH_PATH. */
export function programFile(name: string, cwd: string): string | undefined {
  const key = name.includes('/') ? resolve(cwd, name) : name;
  const cached = fileCache.get(key);
  if (cached) return cached.file ?? undefined;
  let found: string | undefined;
  for (const c of name.includes('/') ? [key] : SEARCH_PATH.map((d) => join(d, name))) {
    try {
      if (statSync(c).isFile()) {
        found = realpathSync(c);
        break;
      }
    } catch {
      // not there
    }
  }
  fileCache.set(key, { file: found ?? null });
  return found;
}

/** Names a program is known by: the invoked base name and, unless it is a multi-call binary, the file's name. */
export function programNames(name: string, cwd: string): { names: string[]; file?: string } {
  const invoked = basename(name);
  const file = programFile(name, cwd);
  const names = new Set([invoked]);
  if (file && !MULTICALL.has(basename(file))) names.add(basename(file));
  // `python3.11` is python; `mkfs.ext4` stays itself
  for (const n of [...names]) {
    const stem = /^([a-z]+)\d+(\.\d+)*$/.exec(n)?.[1];
    if (stem && stem in INTERPRETERS) names.add(stem);
  }
  return { names: [...names], file };
}

/**
 * Whether two files are the same program: one inode (hardlink) or the same bytes (a copy). Sizes are compared
 * first, so only a file as large as the denied binary is ever hashed.
 */
export function sameProgram(a: string, b: string): boolean {
  if (a === b) return true;
  const key = `${a}\0${b}`;
  const cached = sameCache.get(key);
  if (cached !== undefined) return cached;
  const same = compareFiles(a, b);
  sameCache.set(key, same);
  return same;
}

function compareFiles(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    if (sa.dev === sb.dev && sa.ino === sb.ino) return true;
    if (sa.size !== sb.size || sa.size > 64 * 1024 * 1024) return false;
    const hash = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
    return hash(a) === hash(b);
  } catch {
    return false;
  }
}

function longFlag(program: string, name: string): string[] {
  const table = LONG_FLAGS[program];
  if (!table) return [name];
  if (name in table) return [table[name]];
  const matches = Object.keys(table).filter((k) => k.startsWith(name));
  return matches.length ? matches.map((k) => table[k]) : [name];
}

/** Flags and operands of a program's own arguments; GNU-style permutation, `--` ends options. */
export function parseFlags(program: string, rest: string[]): { flags: string[]; args: string[]; values: string[] } {
  const flags = new Set<string>();
  const args: string[] = [];
  // Values hidden inside options (`--output=/etc/x`, `-o/etc/x`) are judged as paths.
  const values: string[] = [];
  let endOfFlags = false;
  for (const arg of rest) {
    if (endOfFlags || arg === '-' || !arg.startsWith('-')) {
      args.push(arg);
      // `of=/etc/x` (dd), `--target-directory /etc` spelled as operands: the value may be a path
      const eq = arg.indexOf('=');
      if (eq > 0) values.push(arg.slice(eq + 1));
    } else if (arg === '--') {
      endOfFlags = true;
    } else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const long = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      longFlag(program, long).forEach((f) => flags.add(f));
      if (eq >= 0) values.push(arg.slice(eq + 1));
    } else {
      const cluster = arg.slice(1);
      const attached = /[/.~=]/.exec(cluster);
      for (const c of attached ? cluster.slice(0, attached.index) : cluster)
        flags.add(EQUIVALENT_SHORT[program]?.[c] ?? c);
      if (attached) values.push(cluster.slice(attached.index).replace(/^=/, ''));
    }
  }
  return { flags: [...flags].sort(), args, values };
}

/** Collects commands, opaque reasons, written files and path arguments while walking argv and scripts. */
class Collector {
  commands: CommandFacts[] = [];
  reasons = new Set<string>();
  writes: string[] = [];
  pathArgs: string[] = [];
  dirs: string[];
  constructor(readonly cwd: string) {
    this.dirs = [cwd];
  }
  opaque(reason: string) {
    this.reasons.add(reason);
  }

  /** Normalises one argv: unwraps wrappers, then judges shells, interpreters and builtins that hide commands. */
  argv(argv: string[], depth: number): void {
    if (depth > MAX_DEPTH) return this.opaque('commands nested too deeply to judge');
    const programs: string[] = [];
    let i = 0;
    // Leading assignments (`X=1 rm …` inside scripts) are environment, not the program.
    while (i < argv.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(argv[i])) i++;
    let ident = programNames(argv[i] ?? '', this.cwd);
    while (i < argv.length) {
      ident = programNames(argv[i], this.cwd);
      programs.push(basename(argv[i]));
      const name = ident.names.find((n) => n in WRAPPERS);
      if (!name) break;
      const next = this.unwrap(name, argv, i + 1, depth);
      if (next === undefined) return this.record(argv, programs, ident, i, depth);
      i = next;
    }
    this.record(argv, programs, ident, i, depth);
  }

  /** Skips a wrapper's options and operands; returns where its command starts, or undefined when it has none. */
  private unwrap(name: string, argv: string[], start: number, depth: number): number | undefined {
    const spec = WRAPPERS[name];
    const takesValue = (letter: string) => spec.short?.includes(letter) ?? false;
    let i = start;
    let operands = spec.operands ?? 0;
    let userTaken = false;
    if (name === 'busybox') return i < argv.length ? i : undefined;
    const value = (v: string, option: string) => {
      this.pathArgs.push(v);
      if (option === spec.script) this.script(v, depth + 1);
      if (name === 'env' && (option === 'S' || option === 'split-string')) {
        const words = splitWords(v);
        if (words === undefined) this.opaque('env -S with a string that cannot be split statically');
        else this.argv([...words, ...argv.slice(i)], depth + 1);
        return 'stop';
      }
      if ((name === 'env' && (option === 'C' || option === 'chdir')) || (name === 'sudo' && option === 'D'))
        this.dirs.push(realPath(v, this.cwd));
      return undefined;
    };
    while (i < argv.length) {
      const a = argv[i];
      if (a === '--') {
        i++;
        break;
      }
      if (a.startsWith('--') && a.length > 2) {
        const eq = a.indexOf('=');
        const long = eq < 0 ? a.slice(2) : a.slice(2, eq);
        const hit = spec.long?.find((l) => l === long) ?? spec.long?.find((l) => l.startsWith(long));
        i++;
        if (hit) {
          const v = eq >= 0 ? a.slice(eq + 1) : argv[i++];
          if (v !== undefined && value(v, hit === 'command' ? (spec.script ?? hit) : hit) === 'stop') return undefined;
        } else if (eq >= 0) this.pathArgs.push(a.slice(eq + 1));
        continue;
      }
      if (a.startsWith('-') && a.length > 1 && !(name === 'nice' && /^-\d+$/.test(a))) {
        i++;
        for (let k = 1; k < a.length; k++) {
          if (!takesValue(a[k])) continue;
          const v = k + 1 < a.length ? a.slice(k + 1) : argv[i++];
          if (a[k] === 'u') userTaken = true;
          if (v !== undefined && value(v, a[k]) === 'stop') return undefined;
          break;
        }
        continue;
      }
      if (name === 'nice' && /^-\d+$/.test(a)) {
        i++;
        continue;
      }
      if (name === 'env' && /^[A-Za-z_][A-Za-z0-9_]*=/.test(a)) {
        i++;
        continue;
      }
      if (USER_OPERAND.has(name) && !userTaken) {
        // `su root -c …`: the user operand; the command came as an option
        userTaken = true;
        i++;
        continue;
      }
      if (operands > 0) {
        this.pathArgs.push(a);
        operands--;
        i++;
        continue;
      }
      break;
    }
    if (name === 'watch' && i < argv.length) {
      // watch joins its arguments into a script for `sh -c`
      this.script(argv.slice(i).join(' '), depth + 1);
      return undefined;
    }
    if (i >= argv.length && (name === 'su' || name === 'runuser' || name === 'script' || name === 'sudo')) {
      if (name !== 'sudo' && !argv.slice(start).some((a) => /^-(-command|[a-z]*c)/.test(a)))
        this.opaque(`${name} without a command starts an interactive shell`);
    }
    return i < argv.length ? i : undefined;
  }

  private record(
    argv: string[],
    programs: string[],
    ident: { names: string[]; file?: string },
    i: number,
    depth: number,
  ) {
    const program = programs[programs.length - 1] ?? '';
    const rest = argv.slice(i + 1);
    // Flags are read the way the real program reads them: a link named `del` to rm takes rm's long options.
    const flagsOf = ident.names.find((n) => n in LONG_FLAGS) ?? program;
    const { flags, args, values } = parseFlags(flagsOf, rest);
    this.commands.push({ program, names: ident.names, file: ident.file, programs, flags, args, argv });
    this.pathArgs.push(...args, ...values);
    const names = new Set(ident.names);
    const is = (set: Set<string> | Record<string, unknown>) =>
      [...names].some((n) => (set instanceof Set ? set.has(n) : n in set));
    if (is(SHELLS)) this.shell(program, rest, depth);
    else if (is(OPAQUE_BUILTINS)) this.opaque(`${program} runs code that cannot be checked`);
    else if (is(INTERPRETERS)) {
      const inline = INTERPRETERS[[...names].find((n) => n in INTERPRETERS)!];
      const codeFlag = rest.some(
        (a) =>
          (a.startsWith('-') && !a.startsWith('--') && [...a.slice(1)].some((c) => inline.includes(c))) ||
          /^--(eval|print|command|run)\b/.test(a) ||
          a === 'eval' ||
          a === '-',
      );
      if (codeFlag || (rest.length === 0 && program !== 'deno')) this.opaque(`${program} runs inline code`);
    } else if (is(AWKS)) {
      const code = rest.find((a) => !a.startsWith('-'));
      if (code === undefined || /system|\||getline|>/.test(code)) this.opaque(`${program} program runs commands`);
    } else if (program === 'find') {
      this.findExec(rest, depth);
    } else if (program === 'cd' || program === 'pushd') {
      this.dirs.push(args[0] === undefined || args[0] === '-' ? homedir() : realPath(expandTilde(args[0]), this.cwd));
    } else this.embedded(argv, i + 1, depth);
  }

  /**
   * An unknown program may run its arguments as a command (`mywrap -x sh -c '…'`). A later shell given `-c`, or
   * `env -S`, is judged as if it ran; plain `rm -rf` later in argv is caught when the denied commands are matched.
   */
  private embedded(argv: string[], from: number, depth: number) {
    for (let j = from; j < argv.length; j++) {
      const names = programNames(argv[j], this.cwd).names;
      const later = argv.slice(j + 1);
      const shellWithScript =
        names.some((n) => SHELLS.has(n)) && later.some((a) => /^-[A-Za-z]*c[A-Za-z]*$|^--command/.test(a));
      const envSplit = names.includes('env') && later.some((a) => /^-[A-Za-z]*S|^--split-string/.test(a));
      if (shellWithScript || envSplit) return this.argv(argv.slice(j), depth + 1);
    }
  }

  private findExec(rest: string[], depth: number) {
    for (let k = 0; k < rest.length; k++) {
      if (!['-exec', '-execdir', '-ok', '-okdir'].includes(rest[k])) continue;
      const end = rest.findIndex((a, j) => j > k && (a === ';' || a === '+'));
      this.argv(rest.slice(k + 1, end < 0 ? undefined : end), depth + 1);
    }
  }

  /** A shell's own options: finds `-c` in any cluster (`-lc`, `-ec`, `-o pipefail -c`, `-c --`). */
  private shell(program: string, rest: string[], depth: number) {
    let i = 0;
    let command = false;
    let script: string | undefined;
    while (i < rest.length) {
      const a = rest[i];
      if (a === '--' || a === '-') {
        i++;
        break;
      }
      if (a.startsWith('--')) {
        i++;
        const [long, v] = a.slice(2).split(/=(.*)/s);
        if (['rcfile', 'init-file', 'init-command'].includes(long)) {
          this.opaque(`${program} --${long} runs another file or command`);
          if (v === undefined) i++;
        } else if (long === 'command') {
          command = true;
          script = v ?? rest[i++];
        }
        continue;
      }
      if (/^[-+][A-Za-z]/.test(a)) {
        i++;
        for (const c of a.slice(1)) {
          if (c === 'c' && a[0] === '-') command = true;
          else if (c === 's' && a[0] === '-') this.opaque(`${program} -s reads its script from stdin`);
          else if (c === 'o' || c === 'O') i++;
        }
        continue;
      }
      break;
    }
    if (command) {
      script ??= rest[i];
      if (script === undefined) this.opaque(`${program} -c without a script`);
      else this.script(script, depth + 1);
    } else if (i < rest.length) this.opaque(`${program} runs the script file ${rest[i]}`);
    else this.opaque(`${program} reads its script from stdin`);
  }

  /** Parses a script (once per text) and judges every command in it, wherever it is nested. */
  script(text: string, depth: number) {
    if (depth > MAX_DEPTH) return this.opaque('scripts nested too deeply to judge');
    let events = scriptCache.get(text);
    if (!events) {
      events = readScript(text);
      scriptCache.set(text, events);
    }
    for (const e of events) {
      if ('cmd' in e) this.argv(e.cmd, depth);
      else if ('opaque' in e) this.opaque(e.opaque);
      else {
        this.pathArgs.push(e.path);
        if (e.write) this.writes.push(e.path);
      }
    }
  }
}

/** What a script does, in order, as far as it can be read statically: its commands, paths, and what is opaque. */
type ScriptEvent = { cmd: string[] } | { opaque: string } | { path: string; write: boolean };
/** Parsing goes through mvdan-sh's GopherJS bridge (about a millisecond); the same scripts come back often. */
const scriptCache = new LRUCache<string, ScriptEvent[]>({ max: 1000 });

function readScript(text: string): ScriptEvent[] {
  const reader = new ScriptReader();
  try {
    reader.stmts(parser.Parse(text, 'script').Stmts as ShNode[]);
  } catch {
    return [{ opaque: 'the script does not parse as a POSIX/bash script' }];
  }
  return reader.events;
}

/**
 * Walks statements by hand (mvdan-sh's own Walk is slow through its JS bridge). Fail closed: a node type not
 * handled here makes the script opaque rather than being skipped.
 */
class ScriptReader {
  events: ScriptEvent[] = [];
  private opaque(reason: string) {
    this.events.push({ opaque: reason });
  }

  stmts(list: ShNode[] | null) {
    for (const stmt of list ?? []) {
      for (const r of (stmt.Redirs as ShNode[] | null) ?? []) this.redirect(r);
      if (stmt.Cmd) this.command(stmt.Cmd as ShNode);
    }
  }

  private command(cmd: ShNode) {
    const type = syntax.NodeType(cmd);
    const stmt = (s: unknown) => s && this.stmts([s as ShNode]);
    switch (type) {
      case 'CallExpr': {
        for (const a of (cmd.Assigns as ShNode[] | null) ?? []) this.assign(a);
        const words = ((cmd.Args as ShNode[] | null) ?? []).map((w) => this.word(w));
        if (words.every((w): w is string => w !== undefined)) {
          if (words.length) this.events.push({ cmd: words });
        } else {
          this.opaque('a command is built from expansions');
          // Still judge the literal words: a denied command stays denied next to an expansion.
          const literal = words.filter((w): w is string => w !== undefined);
          if (literal.length) this.events.push({ cmd: literal });
        }
        return;
      }
      case 'BinaryCmd':
        stmt(cmd.X);
        stmt(cmd.Y);
        return;
      case 'Subshell':
      case 'Block':
        return this.stmts(cmd.Stmts as ShNode[]);
      case 'IfClause':
        this.stmts(cmd.Cond as ShNode[]);
        this.stmts(cmd.Then as ShNode[]);
        if (cmd.Else) this.command(cmd.Else as ShNode);
        return;
      case 'TimeClause':
        return stmt(cmd.Stmt);
      case 'DeclClause':
        for (const a of (cmd.Args as ShNode[] | null) ?? []) this.assign(a);
        return;
      case 'WhileClause':
      case 'ForClause':
        this.opaque('the script loops');
        this.stmts(cmd.Cond as ShNode[]);
        return this.stmts(cmd.Do as ShNode[]);
      case 'CaseClause':
        if (this.word(cmd.Word as ShNode) === undefined) this.opaque('a case word is built from expansions');
        for (const item of (cmd.Items as ShNode[] | null) ?? []) this.stmts(item.Stmts as ShNode[]);
        return;
      case 'FuncDecl':
        this.opaque('the script defines functions');
        return stmt(cmd.Body);
      default:
        // ArithmCmd, LetClause, TestClause, CoprocClause…: may expand or run what is not judged here
        this.opaque(`${type} cannot be judged statically`);
    }
  }

  private assign(a: ShNode) {
    if (a.Array || a.Index || (a.Value && this.word(a.Value as ShNode) === undefined))
      this.opaque('an assignment is built from expansions');
  }

  private redirect(r: ShNode) {
    const op = r.Op as number;
    if (op === 61 || op === 62) {
      // a here-document: its body expands unless the delimiter is quoted
      if (r.Hdoc && this.word(r.Hdoc as ShNode, false) === undefined) this.opaque('a here-document expands');
      return;
    }
    const target = this.word(r.Word as ShNode);
    if (target === undefined) return this.opaque('a redirect target is built from expansions');
    if (op === 63) return; // here-string: stdin text
    if ((op === 58 || op === 59) && /^\d+-?$|^-$/.test(target)) return; // duplicating a descriptor
    this.events.push({ path: target, write: [54, 55, 57, 59, 60, 64, 65].includes(op) });
  }

  /** A word's value when it is literal (quotes resolved); undefined when it expands at run time. */
  word(w: ShNode, globs = true): string | undefined {
    let out = '';
    for (const part of w.Parts as ShNode[]) {
      const t = syntax.NodeType(part);
      if (t === 'Lit') {
        const v = part.Value as string;
        if (globs && (/[*?[]/.test(v) || /\{[^}]*(,|\.\.)[^}]*\}/.test(v))) return undefined; // globs, braces
        out += v.replace(/\\(.)/gs, '$1');
      } else if (t === 'SglQuoted') {
        if (part.Dollar) return undefined;
        out += part.Value as string;
      } else if (t === 'DblQuoted') {
        for (const p of part.Parts as ShNode[]) {
          if (syntax.NodeType(p) !== 'Lit') return undefined;
          out += (p.Value as string).replace(/\\([$`"\\\n])/g, '$1');
        }
      } else return undefined;
    }
    return expandTilde(out);
  }
}

/** One parser for the process: creating one costs more than parsing a short script. */
const parser = syntax.NewParser();

function expandTilde(s: string): string {
  return s.replace(/^~(?=\/|$)/, homedir());
}

/** Splits `env -S` strings (shell-like words, no expansions); undefined when it would need expansion. */
function splitWords(text: string): string[] | undefined {
  try {
    const file = parser.Parse(text, 'split');
    const stmts = file.Stmts as ShNode[];
    if (stmts.length !== 1) return undefined;
    const cmd = (stmts[0] as ShNode).Cmd as ShNode | null;
    if (!cmd || syntax.NodeType(cmd) !== 'CallExpr') return undefined;
    const reader = new ScriptReader();
    const words = (cmd.Args as ShNode[]).map((w) => reader.word(w));
    return words.every((w): w is string => w !== undefined) ? words : undefined;
  } catch {
    return undefined;
  }
}

export function shellFacts(argv: string[], cwd: string): ShellFacts {
  const real = realPath(cwd);
  const c = new Collector(real);
  c.argv(argv, 0);
  const top = c.commands[0] ?? {
    program: basename(argv[0] ?? ''),
    names: [],
    programs: [],
    flags: [],
    args: [],
    argv,
  };
  const opaqueReasons = [...c.reasons];
  const resolveAll = (p: string) => [...new Set(c.dirs.map((d) => realPath(expandTilde(p), d)))];
  return {
    ...top,
    argv,
    cwd: real,
    commands: c.commands,
    opaque: opaqueReasons.length > 0,
    opaqueReasons,
    writes: [...new Set(c.writes.flatMap(resolveAll))],
    pathArgs: c.pathArgs,
    dirs: c.dirs,
  };
}

/**
 * Paths a shell command names: its cwd, every argument and option value, and redirect targets, resolved against
 * the cwd and every directory the script changes into. Every operand counts: a bare `x` can be a symlink to /etc.
 */
export function shellPaths(facts: ShellFacts): string[] {
  const paths = new Set([facts.cwd, ...facts.dirs, ...facts.writes]);
  for (const a of facts.pathArgs) {
    if (!a || a.includes('\0')) continue;
    for (const d of facts.dirs) paths.add(realPath(expandTilde(a), d));
  }
  return [...paths].filter((p) => !HARMLESS_DEVICES.test(p));
}
/** Sinks and streams every command may name (`2>/dev/null`). */
const HARMLESS_DEVICES = /^\/dev\/(null|zero|stdin|stdout|stderr|tty|fd\/\d+)$|^\/proc\/self\/fd\/\d+$/;

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
export function actionFacts(req: Omit<ActionFacts, 'shell' | 'http' | 'github' | 'paths' | 'env'>): ActionFacts {
  const { input } = req;
  let shell: ShellFacts | null = null;
  let http: HttpFacts | null = null;
  const paths: string[] = [];
  if (req.action === 'shell.run' && Array.isArray(input.argv) && typeof input.cwd === 'string') {
    shell = shellFacts(input.argv.map(String), input.cwd);
    paths.push(...shellPaths(shell));
  }
  if (typeof input.url === 'string') http = httpFacts(String(input.method ?? 'GET'), input.url);
  const github = req.action.startsWith('github.') ? githubFacts(input) : null;
  // A GitHub repository is owner/name, not a path on this machine.
  if (typeof input.repo === 'string' && !github) paths.push(realPath(input.repo));
  const env =
    input.env && typeof input.env === 'object' && !Array.isArray(input.env)
      ? Object.fromEntries(Object.entries(input.env as Record<string, unknown>).map(([k, v]) => [k, String(v)]))
      : {};
  return { ...req, shell, http, github, paths, env };
}

/** A `deniedCommands` entry (`rm -rf`) in the same normal form as a command. */
export function normaliseDenied(text: string): DeniedCommand {
  let denied = deniedCache.get(text);
  if (!denied) {
    const words = splitWords(text) ?? text.split(/\s+/);
    const program = basename(words[0] ?? '');
    denied = { program, ...parseFlags(program, words.slice(1)), text };
    deniedCache.set(text, denied);
  }
  return denied;
}
export type DeniedCommand = { program: string; flags: string[]; args: string[]; values: string[]; text: string };
/** Policy texts are few and fixed per policy version; parsing them once per decision was most of its cost. */
const deniedCache = new LRUCache<string, DeniedCommand>({ max: 1024 });

/**
 * Environment variables that change what a command runs or loads (the loader, shell start-up files, interpreter
 * search paths and options, git's config and helpers, pagers and editors). Evaluation refuses them unless the
 * matched rule lists them in `limits.allowEnv`.
 */
const DANGEROUS_ENV_NAMES = new Set([
  'PATH',
  'HOME',
  'BASH_ENV',
  'ENV',
  'PROMPT_COMMAND',
  'SHELLOPTS',
  'BASHOPTS',
  'PS4',
  'IFS',
  'CDPATH',
  'GLOBIGNORE',
  'SHELL',
  'PYTHONPATH',
  'PYTHONSTARTUP',
  'PYTHONHOME',
  'PYTHONUSERBASE',
  'PYTHONINSPECT',
  'NODE_OPTIONS',
  'NODE_PATH',
  'PERL5LIB',
  'PERL5OPT',
  'PERLLIB',
  'RUBYOPT',
  'RUBYLIB',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'CLASSPATH',
  'EDITOR',
  'VISUAL',
  'PAGER',
  'MANPAGER',
  'LESSOPEN',
  'LESSCLOSE',
  'BROWSER',
  'SSH_ASKPASS',
  'SUDO_ASKPASS',
  'MAKEFILES',
  'MAKEFLAGS',
  'GCONV_PATH',
  'GLIBC_TUNABLES',
  'LOCPATH',
  'NLSPATH',
  'HOSTALIASES',
  'OPENSSL_CONF',
  'OPENSSL_ENGINES',
  'XDG_CONFIG_HOME',
  'XDG_CONFIG_DIRS',
  'TMPDIR',
]);
const DANGEROUS_ENV_PREFIXES = ['LD_', 'DYLD_', 'GIT_', 'BASH_FUNC_', 'NPM_CONFIG_', 'PIP_', 'CARGO_', 'AIRLOCK_'];

export function isDangerousEnv(name: string): boolean {
  const upper = name.toUpperCase();
  return DANGEROUS_ENV_NAMES.has(upper) || DANGEROUS_ENV_PREFIXES.some((p) => upper.startsWith(p));
}
