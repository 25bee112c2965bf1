/** Serving the API: shared by `airlock dev` (embedded stack) and `airlock serve` (an existing cluster). */
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { builtinRegistry } from '../../activities';
import type { AuditStore } from '../audit/store';
import type { Config } from '../config';
import type { FreezeControl } from '../freeze';
import { loadDirectory } from '../people';
import type { PolicyStore } from '../policy/store';
import { createSlackApp } from '../../approvals/slack/app';
import { buildApi } from './server';

export async function serveApi(deps: {
  config: Config;
  client: Client;
  audit: AuditStore;
  freeze: FreezeControl;
  policy: PolicyStore;
  logger: Logger;
}): Promise<{ url: string; close: () => Promise<void> }> {
  const { config } = deps;
  const directory = loadDirectory(config.peopleFile);
  const app = await buildApi({
    client: deps.client,
    taskQueue: config.temporal.taskQueue,
    registry: builtinRegistry(),
    directory,
    audit: deps.audit,
    freeze: deps.freeze,
    logger: deps.logger,
    operatorGroups: config.api.operatorGroups,
    rateLimitPerMinute: config.api.rateLimitPerMinute,
    freezeMode: () => deps.policy.current().source.freeze.mode,
    slack: config.slack
      ? createSlackApp({
          signingSecret: config.slack.signingSecret,
          botToken: config.slack.botToken,
          apiUrl: config.slack.apiUrl,
          temporal: deps.client,
          directory,
          audit: deps.audit,
        })
      : undefined,
  });
  const url = await app.listen({ host: config.api.host, port: config.api.port });
  return { url, close: () => app.close() };
}
