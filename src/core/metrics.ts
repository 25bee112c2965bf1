/**
 * What activities and channels measure, as an interface: src/metrics.ts records it in Prometheus, and the
 * composition root hands it over, so no activity reaches for a process-wide registry.
 */
export interface ActivityMetrics {
  /** A policy decision, by outcome and rule. */
  policyDecision(outcome: string, rule: string): void;
  /** A compensation attempt's result: `ok` or `failed_attempt`. */
  compensation(result: 'ok' | 'failed_attempt'): void;
  /** Time from an approval request to its outcome. */
  approvalClosed(status: string, seconds: number): void;
  /** A completion callback attempt: `delivered`, `failed_attempt`, or `gave_up` when its delivery stopped trying. */
  callback(result: 'delivered' | 'failed_attempt' | 'gave_up'): void;
  /** A channel notification attempt (announce/update of an approval request), by channel name. */
  notification(channel: string, result: 'ok' | 'failed_attempt'): void;
}

/** Measures nothing: for tools and tests that do not scrape. */
export const noMetrics: ActivityMetrics = {
  policyDecision: () => undefined,
  compensation: () => undefined,
  approvalClosed: () => undefined,
  callback: () => undefined,
  notification: () => undefined,
};
