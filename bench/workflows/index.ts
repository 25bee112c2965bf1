/** The bench worker's bundle: Airlock's workflows and the bare baseline, on one worker with the same settings. */
export { jobWorkflow, freezeControlWorkflow } from '../../workflows';
export { bareWorkflow, bareApprovalWorkflow } from './bare';
