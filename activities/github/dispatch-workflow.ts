import { ApplicationFailure } from '@temporalio/common';
import { setTimeout as delay } from 'node:timers/promises';
import type { Octokit } from 'octokit';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FailureType } from '../../src/core/failures';
import { splitRepo } from '../../src/core/github';
import { defineTool, type ToolContext } from '../tool';
import { gh, githubFailure, githubFor, httpStatus, repoField } from './client';

/** The workflow input that carries the step's idempotency key; the target workflow must declare it. */
export const KEY_INPUT = 'airlock_key';

/** GitHub answers a dispatch with 204 and no run id; the run is found in the runs list by the key in its title. */
const KEY_IN_RUN_NAME = new RegExp(`\\$\\{\\{[^}]*\\binputs\\.${KEY_INPUT}\\b[^}]*\\}\\}`);

/** Characters an idempotency key is made of (`<jobId>/<stepId>`): the key must not continue past a match. */
const KEY_CHAR = '[A-Za-z0-9._:/-]';

/** Whether a run's title carries `key` as a whole (`job/s1` is not found in `job/s10`). */
export function titleCarriesKey(title: string, key: string): boolean {
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?<!${KEY_CHAR})${escaped}(?!${KEY_CHAR})`).test(title);
}

function notReady(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.GithubError, nonRetryable: true, message });
}

/**
 * Dispatches a GitHub Actions workflow (`workflow_dispatch`). GitHub answers 204 with no run id, so the step's key is
 * passed as the input `airlock_key`, which the workflow must declare and show in its `run-name`
 * (`run-name: Deploy ${{ inputs.environment }} [${{ inputs.airlock_key }}]`): the runs list shows a run's title, not
 * its inputs. Before acting the tool checks the workflow file at `ref` says so (else dispatching could not be found
 * again, and a retry would dispatch twice), then looks for a run already carrying the key.
 *
 * No compensation: a dispatched run cannot be undone (it may have deployed already); cancelling a run is an action
 * of its own, for the policy to judge.
 */
export const githubDispatchWorkflow = defineTool({
  name: 'github.dispatch_workflow',
  description:
    'Start a GitHub Actions workflow (workflow_dispatch) on a branch or tag, with inputs; returns the run when it shows.',
  risk: 'medium',
  input: z.strictObject({
    repo: repoField,
    /** The workflow's file name (`deploy.yml`) or numeric id. */
    workflow: z.union([
      z.string().regex(/^[A-Za-z0-9._-]+\.ya?ml$/, 'a workflow file name (deploy.yml) or numeric id'),
      z.number().int().positive(),
    ]),
    /** The branch or tag whose workflow file runs. */
    ref: z
      .string()
      .min(1)
      .max(250)
      .regex(
        /^(?!refs\/)(?!\/)(?!.*\.\.)(?!.*\/$)[A-Za-z0-9._\/-]+$/,
        'a branch or tag name (letters, digits, . _ / -)',
      ),
    inputs: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'an input name'),
        z.union([z.string(), z.number(), z.boolean()]),
      )
      .refine((inputs) => !(KEY_INPUT in inputs), { message: `${KEY_INPUT} is set by Airlock (the step's key)` })
      .default({}),
    /** How long to wait for the dispatched run to show in the runs list (GitHub takes a few seconds). */
    waitForRunSeconds: z.number().int().min(0).max(60).default(10),
  }),
  output: z.object({
    dispatched: z.literal(true),
    /** A run an earlier attempt dispatched was found: nothing was dispatched now. */
    alreadyDispatched: z.boolean(),
    /** Absent when the run did not show within waitForRunSeconds. */
    runId: z.number().optional(),
    url: z.string().optional(),
  }),
  idempotency:
    `The key is passed as input \`${KEY_INPUT}\` and shown in the run's title (run-name); the runs list is read ` +
    'first, and a run carrying the key is returned instead of dispatching again.',
  timeouts: { startToCloseMs: 2 * 60_000, heartbeatMs: 20_000 },
  async execute(input, ctx) {
    const octokit = await githubFor(ctx, input.repo);
    const r = splitRepo(input.repo);
    const workflow = await checkWorkflow(octokit, input.repo, input.workflow, input.ref);
    const route = { ...r, workflow_id: workflow.id };

    // A retry may follow a dispatch whose run GitHub does not list yet: wait for it as long as for our own.
    const earlier = await findRun(octokit, route, input.ref, ctx, ctx.attempt > 1 ? input.waitForRunSeconds : 0);
    if (earlier)
      return { dispatched: true as const, alreadyDispatched: true, runId: earlier.id, url: earlier.html_url };

    try {
      await octokit.rest.actions.createWorkflowDispatch({
        ...route,
        ref: input.ref,
        inputs: { ...input.inputs, [KEY_INPUT]: ctx.idempotencyKey },
      });
    } catch (err) {
      // 422: the workflow refuses these inputs or this ref; asking again changes nothing.
      if (httpStatus(err) === 422)
        throw notReady(`dispatching ${workflow.path} on ${input.ref}: ${(err as Error).message}`);
      throw githubFailure(err, 'dispatching the workflow');
    }
    const run = await findRun(octokit, route, input.ref, ctx, input.waitForRunSeconds);
    return {
      dispatched: true as const,
      alreadyDispatched: false,
      ...(run ? { runId: run.id, url: run.html_url } : {}),
    };
  },
});

/**
 * Reads the workflow and its file at `ref`: it must take a workflow_dispatch with the input `airlock_key` and show it
 * in its run-name, or a dispatched run could not be found again.
 */
async function checkWorkflow(octokit: Octokit, repo: string, workflow: string | number, ref: string) {
  const r = splitRepo(repo);
  const { data: wf } = await gh(`reading workflow ${workflow}`, () =>
    octokit.rest.actions.getWorkflow({ ...r, workflow_id: workflow }),
  );
  const { data: file } = await gh(`reading ${wf.path} at ${ref}`, () =>
    octokit.rest.repos.getContent({ ...r, path: wf.path, ref }),
  );
  const text =
    !Array.isArray(file) && file.type === 'file' && 'content' in file
      ? Buffer.from(file.content, 'base64').toString('utf8')
      : '';
  let doc: Record<string, unknown> = {};
  try {
    doc = (parseYaml(text) ?? {}) as Record<string, unknown>;
  } catch (err) {
    throw notReady(`${wf.path} at ${ref} is not valid YAML: ${(err as Error).message}`);
  }
  const on = doc.on as Record<string, { inputs?: Record<string, unknown> } | null> | string | string[] | undefined;
  const dispatch = on && typeof on === 'object' && !Array.isArray(on) ? on.workflow_dispatch : undefined;
  const fix =
    `declare the input under on.workflow_dispatch.inputs (${KEY_INPUT}: { type: string, required: false }) and ` +
    `show it in run-name (run-name: ... \${{ inputs.${KEY_INPUT} }})`;
  if (!dispatch?.inputs || !(KEY_INPUT in dispatch.inputs))
    throw notReady(
      `${wf.path} at ${ref} does not declare the input ${KEY_INPUT}, which carries the step's key so a retry finds ` +
        `the run instead of dispatching twice: ${fix}`,
    );
  if (typeof doc['run-name'] !== 'string' || !KEY_IN_RUN_NAME.test(doc['run-name']))
    throw notReady(
      `${wf.path} at ${ref} does not show inputs.${KEY_INPUT} in its run-name, so its runs cannot be found by the ` +
        `step's key (GitHub lists a run's title, not its inputs): ${fix}`,
    );
  return wf;
}

type RunRoute = { owner: string; repo: string; workflow_id: number };

/** The newest workflow_dispatch run on `ref` whose title carries the step's key, polling up to `waitSeconds`. */
async function findRun(octokit: Octokit, route: RunRoute, ref: string, ctx: ToolContext, waitSeconds: number) {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    // The most recent 100: a retry comes minutes after the attempt it repeats, not hundreds of dispatches later.
    const { data } = await gh('listing workflow runs', () =>
      octokit.rest.actions.listWorkflowRuns({ ...route, event: 'workflow_dispatch', branch: ref, per_page: 100 }),
    );
    const run = data.workflow_runs.find((w) => titleCarriesKey(w.display_title ?? w.name ?? '', ctx.idempotencyKey));
    if (run || Date.now() >= deadline || ctx.signal.aborted) return run;
    ctx.heartbeat();
    await delay(Math.min(1000, Math.max(0, deadline - Date.now())));
  }
}
