/**
 * The built-in tools, one module per tool under its family's folder (git/, github/, http/, shell/).
 */
import { ToolRegistry } from './registry';
import { commitFiles } from './git/commit';
import { createBranch } from './git/create-branch';
import { deleteBranch } from './git/delete-branch';
import { mergeBranch } from './git/merge';
import { githubComment } from './github/comment';
import { githubDeploymentGate } from './github/deployment-gate';
import { githubDispatchWorkflow } from './github/dispatch-workflow';
import { githubCommitFiles } from './github/commit-files';
import { githubCreateBranch } from './github/create-branch';
import { githubAddLabels, githubRequestReviewers } from './github/labels-reviewers';
import { githubMergePullRequest } from './github/merge-pull-request';
import { githubCreatePullRequest } from './github/pull-request';
import { httpRequest } from './http/request';
import { shellRun } from './shell/run';
import type { ToolDefinition } from './tool';

export const builtinTools = [
  createBranch,
  commitFiles,
  mergeBranch,
  deleteBranch,
  shellRun,
  httpRequest,
  githubCreateBranch,
  githubCommitFiles,
  githubCreatePullRequest,
  githubComment,
  githubMergePullRequest,
  githubDeploymentGate,
  githubDispatchWorkflow,
  githubAddLabels,
  githubRequestReviewers,
] as ToolDefinition[];

export function builtinRegistry(): ToolRegistry {
  return new ToolRegistry(builtinTools);
}

export { ToolRegistry } from './registry';
export { createActivities } from './create-activities';
export type { ToolDefinition, ToolDeps, ToolContext } from './tool';
