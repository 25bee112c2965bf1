/**
 * The benchmark's Airlock, built through the composition root like every other entry point: the built-in tools plus
 * the no-op tool, no outbound hosts, the bench's people (one approver, one caller) and its Slack app settings.
 */
import type { Client } from '@temporalio/client';
import { builtinTools, ToolRegistry } from '../activities';
import type { ToolDefinition } from '../activities/tool';
import { createAttestor, generateAttestationKey } from '../src/attestation';
import type { AuditStore } from '../src/audit/store';
import { composeAirlock } from '../src/compose';
import { loadConfig } from '../src/config';
import { Directory, hashToken } from '../src/people';
import type { PolicyStore } from '../src/policy/store';
import { noopTool } from './noop-tool';

export const APPROVER_TOKEN = 'bench-alice-token';
export const CALLER_TOKEN = 'bench-caller-token';
export const SLACK_SECRET = 'bench-slack-signing-secret';

/** Signs the bench's votes (API and Slack); its jobs trust its public keys. */
export const BENCH_ATTESTOR = createAttestor(generateAttestationKey());

export const benchRegistry = () => new ToolRegistry([...builtinTools, noopTool as ToolDefinition]);

export function benchAirlock(opts: { client: Client; taskQueue: string; policy: PolicyStore; audit: AuditStore }) {
  return composeAirlock({
    config: loadConfig({
      AIRLOCK_TASK_QUEUE: opts.taskQueue,
      AIRLOCK_OPERATOR_GROUPS: 'sre',
      AIRLOCK_RATE_LIMIT_PER_MINUTE: '10000000',
      AIRLOCK_LOG_LEVEL: 'silent',
      SLACK_BOT_TOKEN: 'xoxb-bench',
      SLACK_SIGNING_SECRET: SLACK_SECRET,
      // Nothing listens there: the channel's posts fail fast, as a Slack outage would, without touching the figures.
      SLACK_API_URL: 'http://127.0.0.1:9/api/',
      SLACK_APPROVAL_CHANNEL: 'C0BENCH',
      SLACK_BOT_ID: 'B0BENCH',
      SLACK_BOT_USER_ID: 'U0BENCH',
    }),
    client: opts.client,
    registry: benchRegistry(),
    deps: { http: { allowedHosts: [] }, shell: { allowedRoots: [] }, secret: () => undefined },
    policy: opts.policy,
    audit: opts.audit,
    attestor: BENCH_ATTESTOR,
    directory: new Directory({
      people: { alice: { groups: ['sre'], slack: 'U0ALICE01', tokenSha256: hashToken(APPROVER_TOKEN) } },
      callers: { bench: { tokenSha256: hashToken(CALLER_TOKEN), agents: ['bench*'] } },
    }),
  });
}
