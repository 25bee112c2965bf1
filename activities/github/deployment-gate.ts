import { z } from 'zod';
import { splitRepo } from '../../src/core/github';
import { defineTool } from '../tool';
import { gh, githubFor, repoField } from './client';

/**
 * Answers a deployment protection rule: GitHub waits for the App it named to approve or reject a workflow run's
 * deployment to an environment (`deployment_callback_url`,
 * `POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule`). The gate job's one step: the policy
 * (and the humans it names) decide before it acts; a job that ends otherwise is answered `rejected` by the gate
 * workflow (workflows/deployment-gate.ts) with the same tool.
 */
export const githubDeploymentGate = defineTool({
  name: 'github.deployment_gate',
  description:
    "Answer GitHub's deployment protection rule for a workflow run's environment: approved (or rejected), with a comment.",
  risk: 'high',
  input: z.strictObject({
    repo: repoField,
    runId: z.number().int().positive(),
    environment: z.string().min(1).max(255),
    state: z.enum(['approved', 'rejected']).default('approved'),
    /** Shown on the run in GitHub (GitHub keeps 1024 characters). */
    comment: z.string().max(1024).optional(),
    /** What is being deployed, for the policy and the people deciding; not sent to GitHub. */
    deployment: z
      .strictObject({ id: z.number().int().positive(), ref: z.string().max(255), sha: z.string().max(64) })
      .partial()
      .optional(),
  }),
  output: z.object({ state: z.enum(['approved', 'rejected']), answered: z.boolean() }),
  idempotency:
    'Looks first: an environment no longer among the run’s pending deployments was answered already and is not ' +
    'answered again.',
  timeouts: { startToCloseMs: 60_000 },
  async execute(input, ctx) {
    const octokit = await githubFor(ctx, input.repo);
    const r = splitRepo(input.repo);
    const route = { ...r, run_id: input.runId };
    const { data: pending } = await gh('reading the pending deployments', () =>
      octokit.request('GET /repos/{owner}/{repo}/actions/runs/{run_id}/pending_deployments', route),
    );
    if (!pending.some((p) => p.environment?.name === input.environment)) return { state: input.state, answered: false };
    await gh('answering the deployment protection rule', () =>
      octokit.request('POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule', {
        ...route,
        environment_name: input.environment,
        state: input.state,
        comment: input.comment ? input.comment.slice(0, 1024) : `Airlock job ${ctx.jobId}`,
      }),
    );
    return { state: input.state, answered: true };
  },
});
