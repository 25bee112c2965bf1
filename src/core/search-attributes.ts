/**
 * Custom search attributes, so jobs are listed from Temporal visibility (`AirlockStatus = 'running'`).
 * The dev server registers them at start (src/temporal/server.ts); a production cluster needs
 * `temporal operator search-attribute create` once (see README).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const airlockStatusKey = defineSearchAttributeKey('AirlockStatus', SearchAttributeType.KEYWORD);
export const airlockAgentKey = defineSearchAttributeKey('AirlockAgent', SearchAttributeType.KEYWORD);

/** Set at start on a retry (`airlock retry`): the job it retries, so the original can show who retried it. */
export const airlockRetryOfKey = defineSearchAttributeKey('AirlockRetryOf', SearchAttributeType.KEYWORD);

export const searchAttributeKeys = [airlockStatusKey, airlockAgentKey, airlockRetryOfKey];
