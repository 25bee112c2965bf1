/**
 * Queries, signals and updates of the job workflow, imported by every caller (CLI, API, approval channels).
 */
import { defineQuery } from '@temporalio/workflow';
import type { JobState } from './types';

/** The job's status, per-step status, outputs and compensations. Works on closed workflows too. */
export const jobStateQuery = defineQuery<JobState>('jobState');
