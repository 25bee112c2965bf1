/** Figure 5: one policy decision, in-process, with the 50-rule policy vs. a one-rule policy. */
import { actionFacts } from '../../src/core/facts';
import { evaluatePolicy } from '../../src/policy/evaluate';
import { compilePolicy } from '../../src/policy/load';
import { type Harness, SIZE } from '../harness';
import { check, record, summarize } from '../lib';

/** Times SIZE.policyDecisions decisions per policy (after a warm-up pass) and records `policyEvaluation`. */
export async function policyEvaluation(h: Harness) {
  const compiled = h.policy.current();
  const trivial = compilePolicy('version: 1\ndefault: { decision: allow }\n', 'trivial.yaml');
  const facts = actionFacts({
    action: 'bench.noop',
    risk: 'low',
    agent: 'bench-agent',
    caller: 'bench',
    context: { repo: 'app' },
    input: { i: 3 },
    cost: 0,
  });
  const time = (p: typeof compiled) => {
    const samples: number[] = [];
    for (let i = 0; i < SIZE.policyDecisions; i++) {
      const t = performance.now();
      const v = evaluatePolicy(p, facts);
      samples.push((performance.now() - t) * 1000);
      if (i === 0) check(v.outcome === 'allow', 'the 50-rule policy allows bench.noop');
    }
    return summarize(samples.slice(1000)); // after JIT warm-up
  };
  time(compiled);
  const fifty = time(compiled);
  const one = time(trivial);
  record(
    'policyEvaluation',
    { fiftyRulesMicros: fifty, oneRuleMicros: one, decisionsPerSecond: 1e6 / fifty.median },
    {
      figure: '5. policy decision, 50 rules (µs)',
      airlock: `median ${fifty.median.toFixed(1)}, p99 ${fifty.p99.toFixed(1)} (${Math.round(1e6 / fifty.median)}/s)`,
      baseline: `1 rule: median ${one.median.toFixed(1)}, p99 ${one.p99.toFixed(1)}`,
      ratio: `${(fifty.median / one.median).toFixed(1)}×`,
      target: 'p99 ≤ 50 µs',
      met: fifty.p99 <= 50,
    },
  );
}
