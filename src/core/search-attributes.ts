/**
 * Custom search attributes, so jobs are listed from Temporal visibility (`AirlockStatus = 'running'`).
 * The dev server registers them at start (src/temporal/server.ts), `airlock cluster up` and
 * `airlock cluster init-namespace` through the operator API (src/temporal/cluster.ts).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const airlockStatusKey = defineSearchAttributeKey('AirlockStatus', SearchAttributeType.KEYWORD);
export const airlockAgentKey = defineSearchAttributeKey('AirlockAgent', SearchAttributeType.KEYWORD);

/** Set at start on a retry (`airlock retry`): the job it retries, so the original can show who retried it. */
export const airlockRetryOfKey = defineSearchAttributeKey('AirlockRetryOf', SearchAttributeType.KEYWORD);

export const searchAttributeKeys = [airlockStatusKey, airlockAgentKey, airlockRetryOfKey];
