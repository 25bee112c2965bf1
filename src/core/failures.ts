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
  /** An upstream MCP server's tool answered with an error. */
  UpstreamToolError: 'UpstreamToolError',
  /** The policy's `maxRuntime` for the action ran out (retried like a timeout, within the policy's `retries`). */
  MaxRuntimeExceeded: 'MaxRuntimeExceeded',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];
