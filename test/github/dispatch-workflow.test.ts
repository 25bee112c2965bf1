/**
 * github.dispatch_workflow against the stand-in, without Temporal: the tool is called as the worker calls it, with
 * the step's key and attempt, and the stand-in counts the dispatches GitHub received.
 */
import { githubDispatchWorkflow, titleCarriesKey } from '../../activities/github/dispatch-workflow';
import type { ToolContext } from '../../activities/tool';
import { createGithubClients } from '../../src/github';
import { startGithubServer, type GithubServer } from '../helpers/github-server';

const DEPLOY = `name: Deploy
run-name: Deploy \${{ inputs.environment }} [\${{ inputs.airlock_key }}]
on:
  workflow_dispatch:
    inputs:
      environment: { type: string, required: true }
      airlock_key: { type: string, required: false }
jobs:
  deploy: { runs-on: ubuntu-latest, steps: [{ run: echo deploying }] }
`;

let gh: GithubServer;
beforeEach(async () => {
  gh = await startGithubServer({ token: 'ghp_test' });
});
afterEach(() => gh.close());

const DISPATCHES = /^\/repos\/acme\/app\/actions\/workflows\/[^/]+\/dispatches$/;

function ctx(key: string, attempt = 1): ToolContext {
  return {
    jobId: key.split('/')[0],
    stepId: key.split('/')[1],
    idempotencyKey: key,
    attempt,
    deps: {
      github: createGithubClients({ apiUrl: gh.url, token: 'ghp_test' }),
      http: {} as never, // not used by GitHub tools
      shell: { allowedRoots: [] },
      secret: () => undefined,
    },
    signal: new AbortController().signal,
    heartbeat: () => undefined,
    log: { info: () => undefined, warn: () => undefined },
  };
}

const dispatch = (input: Record<string, unknown>, c: ToolContext) =>
  githubDispatchWorkflow.execute(githubDispatchWorkflow.input.parse(input), c);

test('dispatches once, with the key as input airlock_key, and returns the run that shows it in its title', async () => {
  gh.addWorkflow('deploy.yml', DEPLOY);
  const out = await dispatch(
    { repo: 'acme/app', workflow: 'deploy.yml', ref: 'main', inputs: { environment: 'staging' } },
    ctx('job-1/deploy'),
  );
  expect(gh.count('POST', DISPATCHES)).toBe(1);
  expect(gh.dispatches[0].inputs).toEqual({ environment: 'staging', airlock_key: 'job-1/deploy' });
  const run = gh.workflowRuns.find((r) => r.id === out.runId)!;
  expect(run.display_title).toBe('Deploy staging [job-1/deploy]');
  expect(out).toEqual({ dispatched: true, alreadyDispatched: false, runId: run.id, url: run.html_url });
});

test('a retry after a crash finds the run the first attempt dispatched (listed late) and does not dispatch again', async () => {
  gh.addWorkflow('deploy.yml', DEPLOY);
  gh.runsAppear({ afterMs: 1500 }); // GitHub lists a dispatched run a few seconds later
  const input = { repo: 'acme/app', workflow: 'deploy.yml', ref: 'main', inputs: { environment: 'prod' } };
  // The first attempt dispatched, then stopped looking (as a worker dying right after the dispatch would).
  const first = await dispatch({ ...input, waitForRunSeconds: 0 }, ctx('job-2/deploy'));
  expect(first).toEqual({ dispatched: true, alreadyDispatched: false });
  const retry = await dispatch(input, ctx('job-2/deploy', 2));
  expect(gh.count('POST', DISPATCHES)).toBe(1);
  expect(retry).toMatchObject({ dispatched: true, alreadyDispatched: true, runId: gh.workflowRuns[0].id });

  // Another step's key is another run: dispatched, even though job-2/deploy is a prefix of it.
  gh.runsAppear({});
  const other = await dispatch(input, ctx('job-2/deploy2'));
  expect(gh.count('POST', DISPATCHES)).toBe(2);
  expect(other.alreadyDispatched).toBe(false);
  expect(other.runId).not.toBe(retry.runId);
});

test('a run that does not show in time: dispatched, without a run id', async () => {
  gh.addWorkflow('deploy.yml', DEPLOY);
  gh.runsAppear({ never: true });
  const started = Date.now();
  const out = await dispatch(
    { repo: 'acme/app', workflow: 'deploy.yml', ref: 'main', inputs: { environment: 'qa' }, waitForRunSeconds: 1 },
    ctx('job-3/deploy'),
  );
  expect(out).toEqual({ dispatched: true, alreadyDispatched: false });
  expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  expect(gh.count('POST', DISPATCHES)).toBe(1);
});

test('a workflow without the airlock_key input, or not showing it in run-name, is refused before dispatching', async () => {
  // Without the input GitHub itself would refuse the dispatch (422 "Unexpected inputs provided").
  gh.addWorkflow('no-input.yml', DEPLOY.replace('      airlock_key: { type: string, required: false }\n', ''));
  await expect(
    dispatch(
      { repo: 'acme/app', workflow: 'no-input.yml', ref: 'main', inputs: { environment: 'x' } },
      ctx('job-4/deploy'),
    ),
  ).rejects.toMatchObject({
    nonRetryable: true,
    message: expect.stringMatching(/no-input\.yml at main does not declare the input airlock_key/),
  });
  // Declared but not in run-name: the run would be dispatched but never found again, so a retry would dispatch twice.
  gh.addWorkflow('no-run-name.yml', DEPLOY.replace(/^run-name: .*\n/m, ''));
  await expect(
    dispatch(
      { repo: 'acme/app', workflow: 'no-run-name.yml', ref: 'main', inputs: { environment: 'x' } },
      ctx('job-4/deploy'),
    ),
  ).rejects.toMatchObject({
    nonRetryable: true,
    message: expect.stringMatching(/does not show inputs\.airlock_key in its run-name/),
  });
  expect(gh.count('POST', DISPATCHES)).toBe(0);

  // What GitHub answers a workflow that does not declare the input (the check above saves the call).
  const octokit = await ctx('k/s').deps.github!.forRepo('acme/app');
  await expect(
    octokit.rest.actions.createWorkflowDispatch({
      owner: 'acme',
      repo: 'app',
      workflow_id: 'no-input.yml',
      ref: 'main',
      inputs: { environment: 'x', airlock_key: 'k/s' },
    }),
  ).rejects.toMatchObject({
    status: 422,
    message: expect.stringContaining('Unexpected inputs provided: ["airlock_key"]'),
  });
});

test("GitHub's refusals and bad input: a missing required input, an unknown workflow, airlock_key set by the caller", async () => {
  gh.addWorkflow('deploy.yml', DEPLOY);
  await expect(
    dispatch({ repo: 'acme/app', workflow: 'deploy.yml', ref: 'main' }, ctx('job-5/deploy')),
  ).rejects.toMatchObject({
    nonRetryable: true,
    message: expect.stringMatching(/Required input 'environment' not provided/),
  });
  await expect(
    dispatch({ repo: 'acme/app', workflow: 'nope.yml', ref: 'main' }, ctx('job-5/deploy')),
    // 404 is retried, as for every GitHub tool (a workflow just pushed may not show yet).
  ).rejects.toMatchObject({ message: expect.stringMatching(/reading workflow nope\.yml: GitHub answered 404/) });
  expect(() =>
    githubDispatchWorkflow.input.parse({
      repo: 'acme/app',
      workflow: 'deploy.yml',
      ref: 'main',
      inputs: { airlock_key: 'mine' },
    }),
  ).toThrow(/airlock_key is set by Airlock/);
  expect(() => githubDispatchWorkflow.input.parse({ repo: 'acme/app', workflow: '../x', ref: 'main' })).toThrow(
    /a workflow file name/,
  );
  expect(gh.count('POST', DISPATCHES)).toBe(0);
});

test('a run title carries a key only as a whole', () => {
  expect(titleCarriesKey('Deploy prod [job-2/deploy]', 'job-2/deploy')).toBe(true);
  expect(titleCarriesKey('job-2/deploy', 'job-2/deploy')).toBe(true);
  expect(titleCarriesKey('Deploy prod [job-2/deploy2]', 'job-2/deploy')).toBe(false);
  expect(titleCarriesKey('Deploy prod [xjob-2/deploy]', 'job-2/deploy')).toBe(false);
});
