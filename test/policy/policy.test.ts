import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluatePolicy } from '../../src/policy/evaluate';
import { actionFacts, shellFacts } from '../../src/core/facts';
import { compilePolicy, loadPolicyFile, PolicyLoadError } from '../../src/policy/load';
import { PolicyStore } from '../../src/policy/store';
import type { RiskClass } from '../../src/core/decision';

const policy = loadPolicyFile(join(__dirname, '..', '..', 'config', 'policy.yaml'));

function judge(
  action: string,
  input: Record<string, unknown>,
  extra: { risk?: RiskClass; context?: Record<string, unknown>; cost?: number; agent?: string } = {},
  p = policy,
) {
  return evaluatePolicy(
    p,
    actionFacts({
      action,
      input,
      risk: extra.risk ?? 'medium',
      agent: extra.agent ?? 'bot',
      caller: 'ci',
      context: extra.context ?? {},
      cost: extra.cost ?? 0,
    }),
  );
}

describe('the example policy expresses what the issue asks', () => {
  test('open PRs freely but never merge', () => {
    expect(judge('github.create_pull_request', {})).toMatchObject({ outcome: 'allow', ruleId: 'open-prs-freely' });
    expect(judge('github.merge_pull_request', {})).toMatchObject({
      outcome: 'deny',
      ruleId: 'never-merge-prs',
      reason: expect.stringContaining('never merge'),
    });
  });

  test('two SRE approvals to merge in production-infra, escalating to the leads', () => {
    expect(judge('git.merge', { repo: '/srv/x.git' }, { context: { repo: 'production-infra' } })).toMatchObject({
      outcome: 'require_approval',
      ruleId: 'prod-infra-merge',
      approval: {
        groups: ['sre'],
        quorum: 2,
        timeoutMs: 4 * 3600_000,
        escalation: { groups: ['sre-leads'], quorum: 1, timeoutMs: 3600_000 },
      },
    });
    expect(judge('git.merge', { repo: '/srv/x.git' }, { context: { repo: 'website' } })).toMatchObject({
      outcome: 'allow',
      ruleId: 'git-everyday',
    });
  });

  test('cloud mutations only in the sandbox account', () => {
    expect(judge('cloud.delete_bucket', { account: 'prod' }, { risk: 'high' })).toMatchObject({
      outcome: 'deny',
      ruleId: 'cloud-sandbox-only',
    });
    expect(judge('cloud.delete_bucket', {}, { risk: 'high' })).toMatchObject({
      outcome: 'deny',
      ruleId: 'cloud-sandbox-only',
    });
    // Allowed by the cloud rule, then nothing else matches: the default denies.
    expect(judge('cloud.delete_bucket', { account: 'sandbox' }, { risk: 'high' })).toMatchObject({
      outcome: 'deny',
      ruleId: 'default',
    });
  });

  test('approval above a cost class', () => {
    expect(judge('git.commit', { repo: '/srv/x.git' }, { cost: 80 })).toMatchObject({
      outcome: 'require_approval',
      ruleId: 'costly-actions',
    });
    expect(judge('git.commit', { repo: '/srv/x.git' }, { cost: 5 })).toMatchObject({ outcome: 'allow' });
  });

  test('shell limited to 120 s and the writable paths, with its limits handed to the workflow', () => {
    expect(judge('shell.run', { argv: ['make', 'test'], cwd: '/tmp' })).toMatchObject({
      outcome: 'allow',
      ruleId: 'shell-in-workspace',
      limits: { maxRuntimeMs: 120_000, retries: 1, writablePaths: ['/workspace', '/tmp'] },
    });
  });

  test('unmatched actions fall to the default deny', () => {
    expect(judge('email.send', {})).toEqual({
      outcome: 'deny',
      ruleId: 'default',
      reason: 'no rule allows this action',
    });
  });
});

describe('rules judge normalised facts, so rewording does not bypass them', () => {
  const denied = (argv: string[], cwd = '/tmp') => judge('shell.run', { argv, cwd });
  test.each([
    [['rm', '-rf', '/']],
    [['rm', '-fr', '/']],
    [['rm', '-r', '-f', '/tmp/x']],
    [['/bin/rm', '--recursive', '--force', '/tmp/x']],
    [['rm', '-R', '-f', '/tmp/x']],
    [['sudo', '-n', 'rm', '-rf', '/tmp/x']],
    [['env', 'X=1', 'rm', '-rf', '/tmp/x']],
    [['sh', '-c', 'cd /tmp && rm -fr x']],
    [['bash', '-c', 'true; /usr/bin/rm -r -f x']],
    [['git', 'push', '--force']],
  ])('%j is a denied command', (argv) => {
    expect(denied(argv)).toMatchObject({ outcome: 'deny', reason: expect.stringMatching(/denied command/) });
  });

  test('a script that cannot be judged statically is refused', () => {
    expect(denied(['sh', '-c', 'eval "$(echo cm0gLXJmIC8= | base64 -d)"'])).toMatchObject({
      outcome: 'deny',
      reason: expect.stringContaining('cannot be checked'),
    });
  });

  test('harmless commands that merely mention the words pass', () => {
    expect(denied(['grep', '-r', 'rm -rf', '/tmp'])).toMatchObject({ outcome: 'allow' });
    expect(denied(['rm', '/tmp/one-file'])).toMatchObject({ outcome: 'allow' });
  });

  test('paths are resolved: .. and symlinks cannot leave the writable paths', () => {
    const root = mkdtempSync(join(tmpdir(), 'airlock-ws-'));
    const ws = join(root, 'workspace');
    mkdirSync(ws);
    symlinkSync('/etc', join(ws, 'etc-link'));
    const p = compilePolicy(
      `version: 1\nrules:\n  - id: ws\n    match: { action: shell.run }\n    decision: allow\n    limits: { writablePaths: ['${ws}'] }\n`,
      'inline.yaml',
    );
    const run = (argv: string[], cwd = ws) => judge('shell.run', { argv, cwd }, {}, p);
    expect(run(['touch', 'ok.txt'])).toMatchObject({ outcome: 'allow' });
    expect(run(['cat', `${ws}/../../etc/shadow`])).toMatchObject({
      outcome: 'deny',
      reason: expect.stringContaining('/etc/shadow is outside'),
    });
    expect(run(['touch', 'x'], `${ws}/../`)).toMatchObject({ outcome: 'deny' });
    expect(run(['cat', 'etc-link/shadow'])).toMatchObject({
      outcome: 'deny',
      reason: expect.stringContaining('/etc/shadow is outside'),
    });
    expect(run(['touch', 'x'], join(ws, 'etc-link'))).toMatchObject({ outcome: 'deny' });
  });

  test('hosts are parsed from URLs: userinfo and look-alike hosts do not pass', () => {
    expect(judge('http.request', { url: 'http://127.0.0.1:9000/x' })).toMatchObject({ outcome: 'allow' });
    expect(judge('http.request', { url: 'http://127.0.0.1@evil.example/x' })).toMatchObject({
      outcome: 'deny',
      reason: expect.stringContaining('evil.example'),
    });
    expect(judge('http.request', { url: 'https://api.internal.example.evil.io/' })).toMatchObject({ outcome: 'deny' });
    expect(judge('http.request', { url: 'https://API.Internal.Example/' })).toMatchObject({ outcome: 'allow' });
    // A host pattern without a port allows the scheme's default port only.
    expect(judge('http.request', { url: 'https://api.internal.example:8443/' })).toMatchObject({ outcome: 'deny' });
    expect(
      actionFacts({ action: 'http.request', input: { url: 'https://API.example.com./x' } } as never).http,
    ).toMatchObject({ host: 'api.example.com' });
  });

  test('shell facts expose program, flag set and arguments', () => {
    expect(shellFacts(['/usr/bin/sudo', 'rm', '-fr', '--', '-weird'], '/tmp')).toMatchObject({
      program: 'rm',
      programs: ['sudo', 'rm'],
      flags: ['f', 'r'],
      args: ['-weird'],
    });
  });
});

describe('conditions', () => {
  const withRule = (when: string) =>
    compilePolicy(
      `version: 1\ndefault: { decision: allow }\nrules:\n  - id: r\n    match: { when: '${when}' }\n    decision: deny\n`,
      'inline.yaml',
    );

  test('a condition that cannot be evaluated denies (fail closed) and names the rule', () => {
    expect(judge('x.y', { other: 1 }, {}, withRule('input.account != "sandbox"'))).toMatchObject({
      outcome: 'deny',
      ruleId: 'r',
      reason: expect.stringContaining('rule r could not be evaluated'),
    });
  });

  test('JSON integers are CEL ints', () => {
    expect(judge('x.y', { n: 3 }, {}, withRule('input.n + 1 == 4'))).toMatchObject({ outcome: 'deny' });
    expect(judge('x.y', {}, { cost: 7 }, withRule('cost > 100'))).toMatchObject({ outcome: 'allow' });
  });

  test('unsafe or computed regular expressions are refused at load time', () => {
    expect(() => withRule('input.name.matches("(a+)+$")')).toThrow(/backtrack catastrophically/);
    expect(() => withRule('input.name.matches(input.pattern)')).toThrow(/string literal pattern/);
    expect(judge('x.y', { name: 'deploy-7' }, {}, withRule('input.name.matches("^deploy-[0-9]+$")'))).toMatchObject({
      outcome: 'deny',
    });
  });

  test('a condition over an unknown variable or with bad syntax is refused at load time', () => {
    expect(() => withRule('secrets.x == 1')).toThrow(PolicyLoadError);
    expect(() => withRule('input.x ==')).toThrow(/invalid condition/);
  });
});

describe('loading', () => {
  test('an invalid file is refused with file, line and path', () => {
    const text = [
      'version: 1',
      'rules:',
      '  - id: ok',
      '    decision: allow',
      '  - id: needs-approval',
      '    decision: require_approval',
      '    approval:',
      '      groups: [sre]',
      '      quorum: two',
      '      timeout: 4h',
    ].join('\n');
    const err = (() => {
      try {
        compilePolicy(text, 'policy.yaml');
      } catch (e) {
        return e as PolicyLoadError;
      }
    })()!;
    expect(err).toBeInstanceOf(PolicyLoadError);
    expect(err.problems).toEqual([
      { path: 'rules.1.approval.quorum', line: 9, column: 15, message: expect.stringContaining('expected number') },
    ]);
    expect(err.message).toContain('policy.yaml:9:15 rules.1.approval.quorum');
  });

  test.each([
    ['a YAML syntax error', 'version: 1\nrules: [\n', ''],
    ['an unknown decision', 'version: 1\nrules:\n  - id: a\n    decision: maybe\n', 'rules.0.decision'],
    [
      'require_approval without approval',
      'version: 1\nrules:\n  - id: a\n    decision: require_approval\n',
      'rules.0.approval',
    ],
    [
      'a duplicate rule id',
      'version: 1\nrules:\n  - id: a\n    decision: allow\n  - id: a\n    decision: deny\n',
      'rules.1.id',
    ],
    ['an unknown field', 'version: 1\nrulez: []\n', ''],
    [
      'a bad duration',
      'version: 1\nrules:\n  - id: a\n    decision: require_approval\n    approval: { groups: [x], timeout: soon }\n',
      'rules.0.approval.timeout',
    ],
  ])('%s is refused', (_name, text, path) => {
    expect(() => compilePolicy(text, 'p.yaml')).toThrow(PolicyLoadError);
    try {
      compilePolicy(text, 'p.yaml');
    } catch (e) {
      const p = (e as PolicyLoadError).problems[0];
      expect(p.path).toBe(path);
      expect(p.line).toBeGreaterThan(0);
    }
  });

  test('the content hash is the version; a bad reload keeps the last good policy', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-policy-'));
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, 'version: 1\ndefault: { decision: allow }\n');
    const store = new PolicyStore(file);
    const first = store.current().hash;
    expect(first).toMatch(/^sha256:[0-9a-f]{64}$/);
    writeFileSync(file, 'version: 1\ndefault: { decision: allow }\nrules: [ {id: X} ]\n');
    const bad = store.reload();
    expect(bad).toMatchObject({ ok: false, kept: first });
    expect(store.current().hash).toBe(first);
    writeFileSync(file, 'version: 1\n');
    expect(store.reload()).toMatchObject({ ok: true, changed: true });
    expect(store.current().hash).not.toBe(first);
  });
});
