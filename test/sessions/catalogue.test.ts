/** Which tools an agent sees over MCP: what the policy could ever allow it, judged without the input. */
import { builtinRegistry } from '../../activities';
import { compilePolicy } from '../../src/policy/load';
import { inputJsonSchema, mayEverAllow, visibleTools } from '../../src/sessions/catalogue';

const registry = builtinRegistry();
const tool = (name: string) => registry.get(name)!;
const who = { agent: 'deploy-bot', caller: 'mcp', context: { env: 'prod' } };
const policy = (rules: string, fallback = 'deny') =>
  compilePolicy(`version: 1\ndefault: { decision: ${fallback} }\nrules:\n${rules}`, 'test.yaml');

test('a rule denying the agent a tool for every input hides it; the default deny hides what no rule allows', () => {
  const p = policy(`
  - { id: no-shell, match: { action: shell.run, agent: deploy-*, caller: mcp }, decision: deny }
  - { id: rest, match: { action: 'git.*' }, decision: allow }
  - { id: shell, match: { action: shell.run }, decision: allow }`);
  expect(mayEverAllow(p, tool('shell.run'), who)).toBe(false);
  expect(mayEverAllow(p, tool('shell.run'), { ...who, agent: 'other-bot' })).toBe(true);
  expect(mayEverAllow(p, tool('http.request'), who)).toBe(false);
  expect(visibleTools(registry, p, who).map((t) => t.name)).toEqual([
    'git.create_branch',
    'git.commit',
    'git.merge',
    'git.delete_branch',
  ]);
});

test('a deny that depends on the input, another caller or another context hides nothing', () => {
  const p = policy(`
  - { id: some-commands, match: { action: shell.run, when: 'shell.programs.exists(p, p == "rm")' }, decision: deny }
  - { id: ci-only, match: { action: shell.run, caller: ci }, decision: deny }
  - { id: staging-only, match: { action: shell.run, context: { env: staging } }, decision: deny }
  - { id: shell, match: { action: shell.run }, decision: require_approval, approval: { groups: [sre], timeout: 1h } }`);
  expect(mayEverAllow(p, tool('shell.run'), who)).toBe(true);
  // In staging context the unconditional deny matches first.
  expect(mayEverAllow(p, tool('shell.run'), { ...who, context: { env: 'staging' } })).toBe(false);
});

test('an allow under a condition shows the tool; a risk-class deny hides the class', () => {
  const p = policy(
    `
  - { id: no-high, match: { risk: [high] }, decision: deny }
  - { id: small-merges, match: { action: git.merge, when: 'true' }, decision: allow }`,
  );
  expect(mayEverAllow(p, tool('git.merge'), who)).toBe(true);
  expect(mayEverAllow(p, tool('shell.run'), who)).toBe(false);
  expect(mayEverAllow(policy('  []', 'allow'), tool('shell.run'), who)).toBe(true);
});

test("tools' input schemas become JSON Schemas of objects, with defaults optional", () => {
  const schema = inputJsonSchema(tool('git.create_branch'));
  expect(schema.type).toBe('object');
  expect(schema.$schema).toBeUndefined();
  expect(schema.required).toEqual(expect.arrayContaining(['repo', 'branch']));
  expect(schema.required).not.toContain('from');
});
