/** One test per class of spelling that got a denied command or an outside write past the policy. */
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluatePolicy } from '../../src/policy/evaluate';
import { actionFacts, shellFacts } from '../../src/core/facts';
import { compilePolicy } from '../../src/policy/load';

const root = mkdtempSync(join(tmpdir(), 'airlock-norm-'));
const ws = join(root, 'workspace');
mkdirSync(ws);
symlinkSync('/usr/bin/rm', join(ws, 'del'));
copyFileSync('/usr/bin/rm', join(ws, 'zap'));

const rules = (extra: string[] = []) =>
  compilePolicy(
    [
      'version: 1',
      'rules:',
      ...extra,
      '  - id: ws',
      '    match: { action: shell.run }',
      '    decision: allow',
      `    limits: { writablePaths: ['${ws}'], deniedCommands: ['rm -rf'] }`,
    ].join('\n'),
    'normalisation.yaml',
  );
const policy = rules();

const judge = (argv: string[], env: Record<string, string> = {}, context: Record<string, unknown> = {}, p = policy) =>
  evaluatePolicy(
    p,
    actionFacts({
      action: 'shell.run',
      input: { argv, cwd: ws, env },
      risk: 'high',
      agent: 'a',
      caller: 'c',
      context,
      cost: 0,
    }),
  );
const expectDenied = (argv: string[], reason: RegExp) =>
  expect(judge(argv)).toMatchObject({ outcome: 'deny', reason: expect.stringMatching(reason) });

test.each([
  [['bash', '-lc', 'rm -rf x']],
  [['bash', '-ec', 'rm -rf x']],
  [['sh', '-c', '--', 'rm -rf x']],
  [['bash', '-o', 'pipefail', '-c', 'rm -rf x']],
  [['dash', '-euc', 'rm -rf x']],
])('shells given combined or extra flags: %j', (argv) => expectDenied(argv, /"rm -rf" is a denied command/));

test.each([
  [['nice', '-n', '5', 'rm', '-rf', 'x']],
  [['timeout', '10', 'rm', '-rf', 'x']],
  [['timeout', '-s', 'KILL', '10', 'rm', '-rf', 'x']],
  [['env', '-S', 'rm -rf x']],
  [['env', '-i', 'rm', '-rf', 'x']],
  [['env', '-u', 'HOME', 'rm', '-rf', 'x']],
  [['setsid', 'rm', '-rf', 'x']],
  [['stdbuf', '-o0', 'rm', '-rf', 'x']],
  [['stdbuf', '-o', 'L', 'rm', '-rf', 'x']],
  [['ionice', '-c', '3', 'rm', '-rf', 'x']],
  [['chrt', '5', 'rm', '-rf', 'x']],
  [['taskset', '0x1', 'rm', '-rf', 'x']],
  [['flock', 'lock', 'rm', '-rf', 'x']],
  [['unbuffer', 'rm', '-rf', 'x']],
  [['some-unknown-wrapper', '--level', '3', 'rm', '-rf', 'x']],
  [['find', '.', '-exec', 'rm', '-rf', '{}', ';']],
])('wrappers with option values, or unknown: %j', (argv) => expectDenied(argv, /"rm -rf" is a denied command/));

test.each([[['rm', '--rec', '--forc', 'x']], [['rm', '--recu', '-f', 'x']], [['rm', '-f', '--r', 'x']]])(
  'abbreviated long options: %j',
  (argv) => expectDenied(argv, /"rm -rf" is a denied command/),
);

test.each([[['./del', '-rf', 'x']], [[`${ws}/del`, '--recursive', '--force', 'x']], [['./zap', '-rf', 'x']]])(
  'a program linked or copied under another name: %j',
  (argv) => expectDenied(argv, /"rm -rf" is a denied command/),
);

test.each([
  [['sh', '-c', 'true\nrm -rf x'], /denied command/],
  [['sh', '-c', 'r\\\nm -rf x'], /denied command/],
  [['sh', '-c', 'X=1 rm -rf x'], /denied command/],
  [['sh', '-c', 'if true; then rm -rf x; fi'], /denied command/],
  [['sh', '-c', "sh -c 'rm -rf x'"], /denied command/],
  [['sh', '-c', 'eval "rm -rf x"'], /cannot be checked.*eval/],
  [['bash', '-c', '"$(printf rm)" -rf x'], /cannot be checked.*expansions/],
  [['bash', 'script.sh'], /cannot be checked.*script file script.sh/],
  [['sh'], /cannot be checked.*stdin/],
  [['bash', '-s'], /cannot be checked.*stdin/],
  [['sh', '-c', 'source ./x.sh'], /cannot be checked.*source/],
  [['sh', '-c', '. ./x.sh'], /cannot be checked/],
  [['python3', '-c', 'import os'], /cannot be checked.*inline code/],
  [['sh', '-c', 'x=$(rm -rf x)'], /cannot be checked.*assignment is built from expansions/],
  [['sh', '-c', 'cat <<EOF\n$(rm -rf x)\nEOF'], /cannot be checked.*here-document expands/],
])('scripts that hide a second command, or cannot be judged: %j', (argv, reason) => expectDenied(argv, reason));

test('opaque commands say so as facts, with reasons', () => {
  expect(shellFacts(['bash', 'deploy.sh'], ws)).toMatchObject({
    opaque: true,
    opaqueReasons: ['bash runs the script file deploy.sh'],
  });
  expect(shellFacts(['sh', '-c', 'eval "$X"'], ws).opaqueReasons).toEqual(
    expect.arrayContaining(['eval runs code that cannot be checked']),
  );
  expect(shellFacts(['sh', '-c', 'ls -la && make'], ws)).toMatchObject({ opaque: false, opaqueReasons: [] });
});

test.each([
  [['sh', '-c', 'echo x > /etc/x']],
  [['sh', '-c', 'echo x >> /etc/x']],
  [['sh', '-c', 'ls 2> /etc/x']],
  [['sh', '-c', 'ls &>/etc/x']],
  [['sh', '-c', 'echo x | tee /etc/x']],
  [['sort', '--output=/etc/x', 'a']],
  [['sort', '-o/etc/x', 'a']],
  [['dd', 'if=a', 'of=/etc/x']],
  [['sh', '-c', 'cd /etc && touch x']],
])('redirect targets, tee and option values are paths: %j', (argv) => expectDenied(argv, /\/etc(\/x)? is outside/));

test('writes inside the workspace and to /dev/null still pass', () => {
  expect(judge(['sh', '-c', 'make > build.log 2>/dev/null'])).toMatchObject({ outcome: 'allow' });
  expect(judge(['sort', '--output=sorted.txt', 'a'])).toMatchObject({ outcome: 'allow' });
});

describe('env is a fact; variables that change what runs are refused unless allowed', () => {
  test.each([
    'PATH',
    'LD_PRELOAD',
    'LD_LIBRARY_PATH',
    'BASH_ENV',
    'ENV',
    'PROMPT_COMMAND',
    'GIT_SSH_COMMAND',
    'PYTHONPATH',
    'NODE_OPTIONS',
  ])('%s is refused by default', (name) => {
    expect(judge(['make'], { [name]: '/tmp/evil' })).toMatchObject({
      outcome: 'deny',
      reason: expect.stringContaining(`environment ${name} may change what runs`),
    });
  });

  test('a rule that lists the name in allowEnv allows it; harmless names pass; the values are facts', () => {
    const withGit = rules([
      '  - id: with-git-env',
      '    match: { action: shell.run, context: { gitEnv: true } }',
      '    decision: allow',
      `    limits: { writablePaths: ['${ws}'], allowEnv: [GIT_AUTHOR_NAME] }`,
    ]);
    expect(judge(['make'], { GIT_AUTHOR_NAME: 'bot' }, { gitEnv: true }, withGit)).toMatchObject({ outcome: 'allow' });
    expect(judge(['make'], { GIT_DIR: '/x' }, { gitEnv: true }, withGit)).toMatchObject({ outcome: 'deny' });
    expect(judge(['make'], { CI: 'true', MY_FLAG: '1' })).toMatchObject({ outcome: 'allow' });
    const facts = actionFacts({
      action: 'shell.run',
      input: { argv: ['make'], cwd: ws, env: { CI: 'true' } },
      risk: 'high',
      agent: 'a',
      caller: 'c',
      context: {},
      cost: 0,
    });
    expect(facts.env).toEqual({ CI: 'true' });
  });

  test('conditions can use env', () => {
    const p = compilePolicy(
      "version: 1\ndefault: { decision: allow }\nrules:\n  - id: no-ci\n    match: { when: 'has(env.CI)' }\n    decision: deny\n",
      'env.yaml',
    );
    const facts = (env: Record<string, string>) =>
      actionFacts({
        action: 'shell.run',
        input: { argv: ['make'], cwd: ws, env },
        risk: 'high',
        agent: 'a',
        caller: 'c',
        context: {},
        cost: 0,
      });
    expect(evaluatePolicy(p, facts({ CI: '1' }))).toMatchObject({ outcome: 'deny', ruleId: 'no-ci' });
    expect(evaluatePolicy(p, facts({}))).toMatchObject({ outcome: 'allow' });
  });
});
