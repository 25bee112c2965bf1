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
}

/** Measures nothing: for tools and tests that do not scrape. */
export const noMetrics: ActivityMetrics = {
  policyDecision: () => undefined,
  compensation: () => undefined,
  approvalClosed: () => undefined,
};
