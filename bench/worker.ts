/**
 * A bench worker in a process of its own, so figure 3 measures the worker's memory alone. Configured by the bench
 * through the environment; answers `{rss: true}` with its RSS and forwards each action start to the bench.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { builtinTools, ToolRegistry } from '../activities';
import type { ToolDefinition } from '../activities/tool';
import { openDatabase } from '../src/audit/db';
import { AuditStore } from '../src/audit/store';
import { FreezeControl } from '../src/freeze';
import { createLogger, installTemporalLogger } from '../src/logger';
import { PolicyStore } from '../src/policy/store';
import { createWorker } from '../src/worker';
import { bareActivities, noopTool, startListeners } from './noop-tool';

async function main() {
  installTemporalLogger(createLogger('warn'), 'warn');
  const { ADDRESS, TASK_QUEUE, POLICY_FILE, AUDIT_URL, TUNING } = process.env as Record<string, string>;
  const audit = await AuditStore.open(openDatabase(AUDIT_URL));
  const connection = await NativeConnection.connect({ address: ADDRESS });
  const client = new Client({ connection: await Connection.connect({ address: ADDRESS }) });
  const worker = await createWorker({
    connection,
    taskQueue: TASK_QUEUE,
    registry: new ToolRegistry([...builtinTools, noopTool as ToolDefinition]),
    deps: { http: { allowedHosts: [] }, shell: { allowedRoots: [] }, secret: () => undefined },
    policy: new PolicyStore(POLICY_FILE),
    freeze: new FreezeControl(client, TASK_QUEUE),
    audit,
    extraActivities: bareActivities,
    workflowsPath: require.resolve('./workflows'),
    tuning: JSON.parse(TUNING),
  });
  startListeners.push((key, at) => process.send!({ started: key, at }));
  process.on('message', (m: { rss?: boolean; stop?: boolean }) => {
    if (m.rss) process.send!({ rss: process.memoryUsage().rss });
    if (m.stop) worker.shutdown();
  });
  const running = worker.run();
  process.send!({ ready: true });
  await running;
  await audit.db.close();
  await connection.close();
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
