/** Entry point of the workflow bundle. */
export { jobWorkflow } from './job';
export { freezeControlWorkflow } from './freeze';
export { sessionWorkflow } from './session';
export { callbackWorkflow } from './callback';
export { approvalNotifierWorkflow } from './notifier';
export { repairWorkflow } from './repair';
export { deploymentGateWorkflow } from './deployment-gate';
