/** Entry point of the workflow bundle. */
export { jobWorkflow } from './job';
export { freezeControlWorkflow } from './freeze';
export { callbackWorkflow } from './callback';
export { approvalNotifierWorkflow } from './notifier';
export { deploymentGateWorkflow } from './deployment-gate';
