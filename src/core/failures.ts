/** Stable failure `type` strings carried by ApplicationFailure across activities, workflows and clients. */
export const FailureType = {
  InvalidToolInput: 'InvalidToolInput',
  InvalidToolOutput: 'InvalidToolOutput',
  UnknownTool: 'UnknownTool',
  RefResolution: 'RefResolution',
  CommandFailed: 'CommandFailed',
  CommandTimedOut: 'CommandTimedOut',
  PathNotAllowed: 'PathNotAllowed',
  HostNotAllowed: 'HostNotAllowed',
  HttpClientError: 'HttpClientError',
  HttpServerError: 'HttpServerError',
  SecretMissing: 'SecretMissing',
  GitError: 'GitError',
  GitConflict: 'GitConflict',
  GitRefMoved: 'GitRefMoved',
  /** GitHub answered with an error that retrying will not change (bad credentials, validation, not mergeable). */
  GithubError: 'GithubError',
  /** GitHub's rate limit (secondary or primary): retried after the delay GitHub asked for. */
  GithubRateLimited: 'GithubRateLimited',
  /** A branch or pull request head is no longer the commit Airlock made or humans approved. */
  GithubHeadMoved: 'GithubHeadMoved',
  CompensationFailed: 'CompensationFailed',
  PolicyDenied: 'PolicyDenied',
  ApprovalRejected: 'ApprovalRejected',
  ApprovalTimedOut: 'ApprovalTimedOut',
  ApprovalMismatch: 'ApprovalMismatch',
  ApprovalRefused: 'ApprovalRefused',
  BudgetExceeded: 'BudgetExceeded',
  DeadlineExceeded: 'DeadlineExceeded',
  JobFrozen: 'JobFrozen',
  /** An agent session was closed, rolled back or cancelled while the call waited: it did not act. */
  SessionEnded: 'SessionEnded',
  /** An agent session's history is as long as a session may grow: it takes no more calls (close it, start anew). */
  SessionFull: 'SessionFull',
  /** An agent session has as many calls in progress as it may: a new one is refused until one ends. */
  SessionBusy: 'SessionBusy',
  /** An upstream MCP server's tool answered with an error. */
  UpstreamToolError: 'UpstreamToolError',
  /** The policy's `maxRuntime` for the action ran out (retried like a timeout, within the policy's `retries`). */
  MaxRuntimeExceeded: 'MaxRuntimeExceeded',
  /** A started action that cannot be retried timed out or lost its worker: it may or may not have acted. */
  OutcomeUnknown: 'OutcomeUnknown',
  /** The audit database refused for good what had to be written before acting: the action did not act. */
  AuditRefusedBeforeActing: 'AuditRefusedBeforeActing',
  /** The worker has no AIRLOCK_CALLBACK_SECRET (retried: another worker, or this one fixed, may deliver it). */
  CallbackNotConfigured: 'CallbackNotConfigured',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];
