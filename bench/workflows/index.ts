/** The bench worker's bundle: every Airlock workflow (as production bundles them) and the bare baselines. */
export * from '../../workflows';
export { bareWorkflow, bareApprovalWorkflow, bareSessionWorkflow } from './bare';
