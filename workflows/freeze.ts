/**
 * The kill switch's state: one long-lived workflow (`airlock-freeze`) holding the freezes in force. It publishes them
 * in its memo, so the policy activity reads them with a `describe` (server only, no worker round trip).
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { FreezeEntry } from '../src/core/decision';

export const FREEZE_WORKFLOW_ID = 'airlock-freeze';

export const setFreezeUpdate = defineUpdate<FreezeEntry[], [FreezeEntry]>('setFreeze');
/** Lifts the freeze of one agent, or the global one when `agent` is absent. */
export const clearFreezeUpdate = defineUpdate<FreezeEntry[], [{ agent?: string }]>('clearFreeze');
export const freezeStateQuery = defineQuery<FreezeEntry[]>('freezeState');

export async function freezeControlWorkflow(initial: FreezeEntry[] = []): Promise<void> {
  let entries = initial;
  const publish = () => upsertMemo({ frozen: entries });
  publish();
  setHandler(setFreezeUpdate, (entry) => {
    entries = [...entries.filter((e) => e.agent !== entry.agent), entry];
    publish();
    return entries;
  });
  setHandler(clearFreezeUpdate, ({ agent }) => {
    entries = entries.filter((e) => e.agent !== agent);
    publish();
    return entries;
  });
  setHandler(freezeStateQuery, () => entries);
  // Lives forever; starts afresh before its history grows large.
  await condition(() => workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  await continueAsNew<typeof freezeControlWorkflow>(entries);
}
