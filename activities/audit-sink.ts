/**
 * The audit sink as activities see it: a write the database refuses for good (see permanentSqlState) fails the
 * activity non-retryably, so the job fails loudly instead of retrying an impossible write forever.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { AuditSink } from '../src/core/audit';
import { permanentSqlState } from '../src/core/db';

/** The ApplicationFailure type of an audit write the database refused for good. */
export const AUDIT_WRITE_REFUSED = 'AuditWriteRefused';

async function refusedForGood<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    const state = permanentSqlState(err);
    if (!state) throw err;
    throw ApplicationFailure.create({
      type: AUDIT_WRITE_REFUSED,
      nonRetryable: true,
      message: `the audit database refused the write for good (SQLSTATE ${state}): ${(err as Error).message}`,
    });
  }
}

/** Wraps a sink so permanent database errors become non-retryable activity failures. */
export function failingForGood(sink: AuditSink): AuditSink {
  return {
    append: (event) => refusedForGood(() => sink.append(event)),
    appendAll: (events, opts) => refusedForGood(() => sink.appendAll(events, opts)),
    signHead: (jobId) => refusedForGood(() => sink.signHead(jobId)),
    ...(sink.recordOutsideTrail
      ? { recordOutsideTrail: (event) => refusedForGood(() => sink.recordOutsideTrail!(event)) }
      : {}),
  };
}
