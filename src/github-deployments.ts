/**
 * GitHub deployment protection rules: a `deployment_protection_rule` webhook (`requested`) starts a gate job, agent
 * `github-deployments`, whose one step (`github.deployment_gate`) answers GitHub `approved` once the policy allows it
 * (by itself, or after the humans it names voted, on Slack, GitHub, the API or the console, with quorum, escalation
 * and timeout; a freeze pauses or stops it); any other end answers `rejected` (workflows/deployment-gate.ts). Each
 * run's environment is one gate, started once: a redelivered or repeated webhook finds it already started.
 */
import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/client';
import type { ToolRegistry } from '../activities/registry';
import type { AttestationKey } from './core/attestation';
import type { PeopleDirectory } from './core/people';
import type { ToolQueues } from './core/tool-queues';
import { planJob } from './jobs/plan';
import type { deploymentGateWorkflow } from '../workflows/deployment-gate';

/** The agent gate jobs run as: policies match it (and freezes name it) like any agent. */
export const DEPLOYMENT_AGENT = 'github-deployments';

/** The parts of GitHub's `deployment_protection_rule` payload the gate reads. */
export interface DeploymentProtectionRuleEvent {
  action?: string;
  environment?: string;
  event?: string;
  deployment_callback_url?: string;
  deployment?: { id?: number; ref?: string; sha?: string; creator?: { login?: string } | null } | null;
  pull_requests?: { number?: number }[];
  repository?: { full_name?: string };
  sender?: { login?: string };
}

export interface DeploymentGateOptions {
  client: Client;
  registry: ToolRegistry;
  taskQueue: string;
  toolQueues?: ToolQueues;
  attestationKeys: AttestationKey[];
  directory: PeopleDirectory;
  /** AIRLOCK_PUBLIC_URL: the audit trail's link in GitHub's answer. */
  publicUrl?: string;
}

const CALLBACK_PATH = /\/repos\/([^/]+)\/([^/]+)\/actions\/runs\/(\d+)\/deployment_protection_rule$/;

/** Starts the gate for one webhook; resolves with the gate job's id (undefined for another action). */
export function deploymentGates(opts: DeploymentGateOptions) {
  return async (event: DeploymentProtectionRuleEvent): Promise<string | undefined> => {
    if (event.action !== 'requested') return undefined;
    const repo = event.repository?.full_name ?? '';
    const environment = event.environment ?? '';
    if (!environment) throw new Error('deployment_protection_rule: environment is missing');
    let url: URL;
    try {
      url = new URL(event.deployment_callback_url ?? '');
    } catch {
      throw new Error('deployment_protection_rule: deployment_callback_url is not a URL');
    }
    // Answered through the GitHub client (its base URL and token), never by posting a token to a URL from a payload.
    const m = CALLBACK_PATH.exec(url.pathname);
    if (!m || `${m[1]}/${m[2]}`.toLowerCase() !== repo.toLowerCase())
      throw new Error(
        `deployment_protection_rule: deployment_callback_url ${url.pathname} is not a deployment protection rule of ${repo}`,
      );
    const runId = Number(m[3]);
    const deployment = event.deployment ?? {};
    const login = deployment.creator?.login ?? event.sender?.login ?? 'unknown';
    const pr = event.pull_requests?.find((p) => Number.isInteger(p.number))?.number;
    const jobId = deploymentGateJobId(repo, runId, environment);
    const plan = planJob(
      {
        agent: DEPLOYMENT_AGENT,
        title: `Deploy ${deployment.ref ?? deployment.sha ?? `run ${runId}`} to ${environment} (${repo})`,
        context: {
          repo,
          ...(pr ? { pr } : {}),
          environment,
          runId,
          ...(deployment.sha ? { sha: deployment.sha } : {}),
          ...(event.event ? { event: event.event } : {}),
        },
        steps: [
          {
            id: 'gate',
            action: 'github.deployment_gate',
            input: {
              repo,
              runId,
              environment,
              state: 'approved',
              comment: `Approved by Airlock. Audit trail: ${auditLink(opts.publicUrl, jobId)}`,
              deployment: {
                ...(deployment.id ? { id: deployment.id } : {}),
                ...(deployment.ref ? { ref: deployment.ref } : {}),
                ...(deployment.sha ? { sha: deployment.sha } : {}),
              },
            },
          },
        ],
      },
      opts.registry,
      // Whoever asked for the deployment cannot approve it.
      opts.directory.byGithub(login)?.id ?? `github:${login}`,
      opts.toolQueues,
    );
    plan.attestationKeys = opts.attestationKeys;
    try {
      await opts.client.workflow.start<typeof deploymentGateWorkflow>('deploymentGateWorkflow', {
        workflowId: `${jobId}:deployment`,
        taskQueue: opts.taskQueue,
        // A gate answered is never started again (GitHub asking again for the same run and environment).
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        args: [{ jobId, plan, repo, runId, environment, auditUrl: auditLink(opts.publicUrl, jobId) }],
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    return jobId;
  };
}

/** The gate job's id: one gate per run and environment, whatever the delivery. */
export function deploymentGateJobId(repo: string, runId: number, environment: string): string {
  const key = createHash('sha256').update(`${repo.toLowerCase()}\n${runId}\n${environment}`).digest('hex');
  return `deploy-${key.slice(0, 24)}`;
}

function auditLink(publicUrl: string | undefined, jobId: string): string {
  return publicUrl ? `${publicUrl}/v1/jobs/${jobId}/audit` : `GET /v1/jobs/${jobId}/audit on Airlock`;
}
