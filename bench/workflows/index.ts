/** The bench worker's bundle: Airlock's workflows and the bare baselines, on one worker with the same settings. */
export { jobWorkflow, freezeControlWorkflow, sessionWorkflow } from '../../workflows';
export { bareWorkflow, bareApprovalWorkflow, bareSessionWorkflow } from './bare';
