/**
 * Property-based: many spellings of a denied `rm -rf` and of writes outside the writable paths (wrappers with
 * options, shells with flag combinations, flag orders and abbreviations, path spellings, quoting, separators) are
 * generated with fast-check, and none may be allowed. Bounded runs keep it to seconds.
 */
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { evaluatePolicy } from '../../src/policy/evaluate';
import { actionFacts } from '../../src/core/facts';
import { compilePolicy } from '../../src/policy/load';

const root = mkdtempSync(join(tmpdir(), 'airlock-spell-'));
const ws = join(root, 'workspace');
mkdirSync(ws);
const RM = '/usr/bin/rm';
symlinkSync(RM, join(ws, 'rm-link'));
symlinkSync(RM, join(ws, 'del'));
copyFileSync(RM, join(ws, 'rm-copy'));
try {
  linkSync(RM, join(ws, 'rm-hard'));
} catch {
  copyFileSync(RM, join(ws, 'rm-hard')); // another filesystem: a copy stands in
}

const policy = compilePolicy(
  [
    'version: 1',
    'rules:',
    '  - id: ws',
    '    match: { action: shell.run }',
    '    decision: allow',
    `    limits: { writablePaths: ['${ws}'], deniedCommands: ['rm -rf'] }`,
  ].join('\n'),
  'spellings.yaml',
);

const judge = (argv: string[]) =>
  evaluatePolicy(
    policy,
    actionFacts({
      action: 'shell.run',
      input: { argv, cwd: ws },
      risk: 'high',
      agent: 'a',
      caller: 'c',
      context: {},
      cost: 0,
    }),
  );

const rmPrograms = fc.constantFrom(
  'rm',
  '/bin/rm',
  '/usr/bin/rm',
  '/usr/bin/../bin/rm',
  '/bin//rm',
  './rm-link',
  // a bare `del` would not run: PATH has no `.` (and setting PATH is refused)
  './del',
  `${ws}/rm-copy`,
  './rm-hard',
);
const rmFlags = fc.constantFrom(
  ['-rf'],
  ['-fr'],
  ['-r', '-f'],
  ['-f', '-r'],
  ['-Rf'],
  ['-R', '-f'],
  ['-rfv'],
  ['-v', '-r', '-f'],
  ['--recursive', '--force'],
  ['--rec', '--forc'],
  ['--recu', '-f'],
  ['-r', '--force'],
  ['--force', '--r'],
  ['-d', '-rf'],
);
const target = fc.constantFrom('x', './x', 'build', `${ws}/x`, '--', '.');
/** `rm` + flags + target, flags before or after the operand (GNU permutes). */
const rmArgv = fc.tuple(rmPrograms, rmFlags, target, fc.boolean()).map(([prog, flags, t, after]) => {
  if (t === '--') return [prog, ...flags, '--', 'x'];
  return after ? [prog, t, ...flags] : [prog, ...flags, t];
});

const wrappers = fc.constantFrom(
  ['nice', '-n', '5'],
  ['nice', '-5'],
  ['nice', '--adjustment=3'],
  ['timeout', '10'],
  ['timeout', '-s', 'KILL', '5s'],
  ['timeout', '--kill-after=1', '3'],
  ['env'],
  ['env', '-i'],
  ['env', 'X=1'],
  ['env', '-u', 'HOME', 'Y=2'],
  ['/usr/bin/env', '--'],
  ['setsid'],
  ['setsid', '-f'],
  ['stdbuf', '-o0'],
  ['stdbuf', '-o', 'L', '-e0'],
  ['ionice', '-c', '3'],
  ['ionice', '-c2', '-n7'],
  ['chrt', '-b', '0'],
  ['chrt', '5'],
  ['taskset', '-c', '0'],
  ['taskset', '1'],
  ['flock', 'lockfile'],
  ['flock', '-w', '3', 'lockfile'],
  ['unbuffer'],
  ['nohup'],
  ['sudo', '-u', 'root'],
  ['sudo', '-E', '--'],
  ['command'],
  ['xargs', '-0'],
  ['strace', '-f', '-o', 'trace.out'],
  ['mywrap', '--opt', 'v'],
  ['time', '-p'],
);
const wrapped = fc.tuple(fc.array(wrappers, { maxLength: 3 }), rmArgv).map(([ws_, argv]) => [...ws_.flat(), ...argv]);

/** Quotes one word of a script some way the shell undoes. */
const quoteWord = (w: string, how: number) => {
  if (!/^[\w./=-]+$/.test(w)) return `'${w.replace(/'/g, `'\\''`)}'`;
  switch (how % 5) {
    case 1:
      return `'${w}'`;
    case 2:
      return `"${w}"`;
    case 3:
      return w.length > 1 ? `${w[0]}\\${w.slice(1)}` : w;
    case 4:
      return w.length > 1 ? `${w[0]}""${w.slice(1)}` : w;
    default:
      return w;
  }
};
const toScript = (argv: string[], quoting: number[]) =>
  argv.map((w, i) => quoteWord(w, quoting[i % quoting.length])).join(' ');
const separators = fc.constantFrom(
  ['', ''],
  ['true; ', ''],
  ['true && ', ''],
  ['false || ', ''],
  ['echo a | ', ''],
  ['true\n', '\n'],
  ['if true; then ', '; fi'],
  ['( ', ' )'],
  ['{ ', '; }'],
  ['X=1 ', ''],
  ['', ' & wait'],
  ['cd . && ', ' > /dev/null'],
);
const shells = fc.constantFrom(
  ['sh', '-c'],
  ['bash', '-c'],
  ['bash', '-lc'],
  ['bash', '-ec'],
  ['sh', '-c', '--'],
  ['bash', '-o', 'pipefail', '-c'],
  ['bash', '-x', '-c'],
  ['bash', '--norc', '-c'],
  ['dash', '-euc'],
  ['/bin/sh', '-c'],
  ['zsh', '-c'],
);
type Argv = string[];
const inShell = (inner: fc.Arbitrary<Argv>, outerWrappers = wrappers) =>
  fc
    .tuple(
      shells,
      inner,
      separators,
      fc.array(fc.nat(4), { minLength: 1, maxLength: 4 }),
      fc.array(outerWrappers, { maxLength: 1 }),
    )
    .map(([shell, argv, [pre, post], quoting, outer]) => [
      ...outer.flat(),
      ...shell,
      `${pre}${toScript(argv, quoting)}${post}`,
    ]);
const viaEnvS = (inner: fc.Arbitrary<Argv>) => inner.map((argv) => ['env', '-S', toScript(argv, [0, 1, 2])]);

const deniedSpellings: fc.Arbitrary<Argv> = fc.oneof(
  wrapped,
  inShell(wrapped),
  inShell(inShell(rmArgv)),
  viaEnvS(rmArgv),
  inShell(viaEnvS(rmArgv)),
);

describe('no spelling of a denied command is allowed', () => {
  test('rm -rf under wrappers, shells, flag spellings, path spellings, quoting and separators', () => {
    fc.assert(
      fc.property(deniedSpellings, (argv) => {
        const v = judge(argv);
        if (v.outcome === 'allow') throw new Error(`allowed: ${JSON.stringify(argv)}`);
      }),
      { numRuns: 600, seed: Number(process.env.FC_SEED ?? Date.now() % 1e9) },
    );
  });

  const outside = fc.constantFrom('/etc/x', `${ws}/../../etc/x`, '../x', '/tmp/../etc/x', '~/x');
  const writes = fc.oneof(
    outside.map((p) => ['touch', p]),
    outside.map((p) => ['tee', '-a', p]),
    outside.map((p) => ['cp', 'a', `--target-directory=${p}`]),
    outside.map((p) => ['sort', `--output=${p}`, 'a']),
    outside.map((p) => ['sort', `-o${p}`, 'a']),
    outside.map((p) => ['dd', 'if=a', `of=${p}`]),
  );
  const redirects = fc
    .tuple(outside, fc.constantFrom('>', '>>', '2>', '&>', '>|', '1>'), shells)
    .map(([p, op, shell]) => [...shell, `echo hi ${op} ${p}`]);

  test('writes outside the writable paths: arguments, option values, redirects, tee', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          writes,
          fc.tuple(fc.array(wrappers, { maxLength: 2 }), writes).map(([w, a]) => [...w.flat(), ...a]),
          inShell(writes),
          redirects,
        ),
        (argv) => {
          const v = judge(argv);
          if (v.outcome === 'allow') throw new Error(`allowed: ${JSON.stringify(argv)}`);
        },
      ),
      { numRuns: 400 },
    );
  });

  test('the same wrappers and shells around harmless commands in the workspace are allowed', () => {
    const known = wrappers.filter((w) => w[0] !== 'mywrap');
    const harmless = fc.constantFrom<Argv[]>(
      ['ls', '-la'],
      ['make', 'test'],
      ['rm', 'one-file'],
      ['touch', 'out.txt'],
      ['grep', '-r', 'x', '.'],
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(fc.array(known, { maxLength: 2 }), harmless).map(([w, a]) => [...w.flat(), ...a]),
          // an unknown wrapper's operands are judged as paths (`mywrap /bin/sh` names /bin/sh), so known ones only
          inShell(harmless, known),
        ),
        (argv) => {
          const v = judge(argv);
          if (v.outcome !== 'allow') throw new Error(`refused ${JSON.stringify(argv)}: ${v.reason}`);
        },
      ),
      { numRuns: 200 },
    );
  });
});
