/**
 * The built-in tools. GitHub and Slack tools come in their own modules and are added here.
 */
import { ToolRegistry } from './registry';
import { commitFiles } from './git/commit';
import { createBranch } from './git/create-branch';
import { deleteBranch } from './git/delete-branch';
import { mergeBranch } from './git/merge';
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
] as ToolDefinition[];

export function builtinRegistry(): ToolRegistry {
  return new ToolRegistry(builtinTools);
}

export { ToolRegistry } from './registry';
export { createActivities } from './create-activities';
export type { ToolDefinition, ToolDeps, ToolContext } from './tool';
