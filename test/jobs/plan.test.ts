import { builtinRegistry } from '../../activities';
import { JobValidationError, planJob } from '../../src/jobs/plan';

const registry = builtinRegistry();

function issuesOf(job: unknown) {
  try {
    planJob(job, registry, 'tester');
  } catch (err) {
    expect(err).toBeInstanceOf(JobValidationError);
    return (err as JobValidationError).issues;
  }
  throw new Error('job was accepted');
}

const repo = '/srv/repo.git';
const valid = {
  agent: 'release-bot',
  title: 'Ship',
  steps: [
    { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'b' } },
    {
      id: 'commit',
      action: 'git.commit',
      input: {
        repo,
        branch: { $ref: 'steps.branch.output.branch' },
        message: 'm',
        files: [{ path: 'a', content: 'x' }],
      },
    },
  ],
};

test('a valid job is planned with its tools risk, compensation and options', () => {
  const plan = planJob(valid, registry, 'alice');
  expect(plan.requester).toBe('alice');
  expect(plan.steps.map((s) => [s.id, s.risk, s.compensation])).toEqual([
    ['branch', 'low', 'git.create_branch.compensate'],
    ['commit', 'low', 'git.commit.compensate'],
  ]);
  expect(plan.steps[0].options).toEqual({
    startToCloseTimeoutMs: 60_000,
    heartbeatTimeoutMs: undefined,
    maximumAttempts: 5,
  });
});

test('one answer names every problem: duplicate ids, unknown action, bad field, dangling $ref', () => {
  const issues = issuesOf({
    agent: 'release-bot',
    title: 'Broken',
    steps: [
      { id: 'a', action: 'git.create_branch', input: { repo, branch: 'x' } },
      { id: 'a', action: 'git.create_branch', input: { repo, branch: 'y' } },
      { id: 'c', action: 'github.merge_everything', input: {} },
      { id: 'd', action: 'git.create_branch', input: { repo: 'relative/path', branch: 'ok' } },
      {
        id: 'e',
        action: 'git.commit',
        input: {
          repo,
          branch: { $ref: 'steps.nope.output.branch' },
          message: 'm',
          files: [{ path: 'f', content: '' }],
        },
      },
    ],
  });
  expect(issues).toEqual([
    { path: 'steps.1.id', message: 'duplicate step id "a" (also steps.0.id)' },
    { path: 'steps.2.action', message: expect.stringContaining('unknown action "github.merge_everything"') },
    { path: 'steps.3.input.repo', message: 'must be an absolute path' },
    { path: 'steps.4.input.branch', message: '$ref "steps.nope.output.branch" points to no earlier step ("nope")' },
  ]);
});

test('a $ref to a later step, to itself, or to a field the tool never outputs is refused', () => {
  const issues = issuesOf({
    agent: 'a',
    title: 't',
    steps: [
      { id: 'one', action: 'git.create_branch', input: { repo, branch: { $ref: 'steps.two.output.branch' } } },
      { id: 'two', action: 'git.create_branch', input: { repo, branch: { $ref: 'steps.two.output.branch' } } },
      { id: 'three', action: 'git.create_branch', input: { repo, branch: { $ref: 'steps.one.output.nonexistent' } } },
      { id: 'four', action: 'git.create_branch', input: { repo, branch: { $ref: 'outputs.one' } } },
    ],
  });
  expect(issues.map((i) => i.path)).toEqual([
    'steps.0.input.branch',
    'steps.1.input.branch',
    'steps.2.input.branch',
    'steps.3.input.branch',
  ]);
  expect(issues[2].message).toContain('git.create_branch has no output field "nonexistent"');
  expect(issues[3].message).toContain('not of the form');
});

test('credentials in a callback URL or a request URL are refused at submission', () => {
  const issues = issuesOf({
    ...valid,
    callbackUrl: 'https://user:pass@hooks.example.com/airlock',
    steps: [{ id: 'call', action: 'http.request', input: { url: 'https://token@api.example.com/x' } }],
  });
  expect(issues.map((i) => [i.path, i.message])).toEqual([
    ['callbackUrl', expect.stringMatching(/credentials/)],
    ['steps.0.input.url', expect.stringMatching(/credentials/)],
  ]);
});

test('envelope errors and step errors are reported together', () => {
  const issues = issuesOf({ agent: 'has space', title: '', extra: 1, steps: [{ id: 'x', action: 'nope' }] });
  expect(issues.map((i) => i.path)).toEqual(['agent', 'title', '(root)', 'steps.0.action']);
  expect(issues[2].message).toMatch(/extra/);
});

test.each([
  ['no steps', { agent: 'a', title: 't', steps: [] }, 'steps'],
  ['steps not an array', { agent: 'a', title: 't', steps: 'x' }, 'steps'],
  [
    'bad step id',
    { agent: 'a', title: 't', steps: [{ id: 'has space', action: 'git.merge', input: {} }] },
    'steps.0.id',
  ],
  [
    'unknown step field',
    { agent: 'a', title: 't', steps: [{ id: 'x', action: 'git.merge', input: {}, when: 1 }] },
    'steps.0',
  ],
  ['bad budget', { agent: 'a', title: 't', budget: { maxActions: -1 }, steps: valid.steps }, 'budget.maxActions'],
  ['bad deadline', { agent: 'a', title: 't', budget: { deadline: 'tomorrow' }, steps: valid.steps }, 'budget.deadline'],
  [
    'unknown input field',
    {
      agent: 'a',
      title: 't',
      steps: [{ id: 'x', action: 'git.create_branch', input: { repo, branch: 'b', force: true } }],
    },
    'steps.0.input',
  ],
  [
    'shell argv not an array',
    { agent: 'a', title: 't', steps: [{ id: 'x', action: 'shell.run', input: { argv: 'rm -rf /', cwd: '/tmp' } }] },
    'steps.0.input.argv',
  ],
  [
    'path escaping the repo',
    {
      agent: 'a',
      title: 't',
      steps: [
        {
          id: 'x',
          action: 'git.commit',
          input: { repo, branch: 'b', message: 'm', files: [{ path: '../x', content: '' }] },
        },
      ],
    },
    'steps.0.input.files.0.path',
  ],
  ['not an object', 'just a string', '(root)'],
])('%s is refused at %s', (_name, job, path) => {
  expect(issuesOf(job).map((i) => i.path)).toContain(path);
});

test('retry policy may depend on input: shell commands retry only when marked idempotent', () => {
  const plan = (idempotent?: boolean) =>
    planJob(
      {
        agent: 'a',
        title: 't',
        steps: [{ id: 's', action: 'shell.run', input: { argv: ['true'], cwd: '/tmp', idempotent } }],
      },
      registry,
      'x',
    ).steps[0].options.maximumAttempts;
  expect(plan(undefined)).toBe(1);
  expect(plan(true)).toBe(3);
});

test('tool queues are decided at submission: each step carries its queue, an unrouted one none', () => {
  const job = {
    ...valid,
    steps: [...valid.steps, { id: 'run', action: 'shell.run', input: { argv: ['true'], cwd: '/tmp' } }],
  };
  const plan = planJob(job, registry, 'alice', { git: 'exec', 'shell.run': 'exec-prod' });
  expect(plan.steps.map((s) => s.options.taskQueue)).toEqual(['exec', 'exec', 'exec-prod']);
  // No routing: the options keep the shape jobs had before tool queues (their histories replay unchanged).
  expect(planJob(job, registry, 'alice').steps.every((s) => !('taskQueue' in s.options))).toBe(true);
});
