/**
 * Fault suite: the Temporal server restarts (same SQLite file, same port) while one job is in the middle of an action
 * and another waits for approval; the worker process rides it out and every job continues to the end.
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { builtinTools, ToolRegistry } from '../../activities';
import type { ToolDefinition } from '../../activities/tool';
import { submitJob } from '../../src/jobs/submit';
import { startDevServer, type DevServer } from '../../src/temporal/server';
import { jobStateQuery } from '../../workflows/messages';
import { pendingRequest, vote } from '../helpers/approvals';
import { attestationKeys } from '../helpers/attestation';
import { makeRepo } from '../helpers/git';
import { usePostgresDatabase } from '../helpers/postgres';
import { uniqueId } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';
import { mergeJob, mergePolicy } from './helpers';

const pg = usePostgresDatabase();
const { dir, policy } = mergePolicy('airlock-restart-', { allow: ['git.create_branch', 'http.request'] });
const sqlite = join(dir, 'temporal.sqlite');
let server: DevServer | undefined;
const workers: WorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await server?.teardown();
});

/** Short activity timeouts: an activity whose completion was lost with the server is retried in seconds. */
const fastRegistry = () =>
  new ToolRegistry(
    builtinTools.map((t): ToolDefinition => ({
      ...t,
      timeouts: { startToCloseMs: 6_000, heartbeatMs: t.timeouts?.heartbeatMs ? 2_000 : undefined },
    })),
  );

test('a Temporal server restart mid-action and mid-wait: every job continues', async () => {
  server = await startDevServer({ dbFilename: sqlite });
  const port = Number(server.connection.options.address.split(':')[1]);
  // A slow service: answers each request after 1.5 s (the restart happens while the first is in flight).
  let requests = 0;
  const slow: Server = createServer((req, res) => {
    requests += 1;
    req.resume();
    setTimeout(() => res.end(JSON.stringify({ ok: true })), 1_500);
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/deploy`;
  const { repo, cleanup } = makeRepo();
  const taskQueue = uniqueId('restart');
  try {
    workers.push(
      await spawnWorker({
        address: server.connection.options.address,
        taskQueue,
        identity: 'worker-1',
        env: {
          AIRLOCK_DATABASE_URL: pg.url,
          AIRLOCK_DATA_DIR: dir,
          AIRLOCK_POLICY_FILE: policy,
          AIRLOCK_HTTP_ALLOWED_HOSTS: '127.0.0.1:*',
          AIRLOCK_HTTP_INSECURE_HOSTS: '127.0.0.1:*',
          AIRLOCK_HTTP_ALLOWED_NETWORKS: '127.0.0.0/8',
        },
      }),
    );
    const opts = { registry: fastRegistry(), taskQueue, requester: 'bob', attestationKeys };
    const waiting = await submitJob(server.client, mergeJob('Waits through a restart', repo, 'restart'), {
      ...opts,
      jobId: uniqueId('job'),
    });
    const request = await pendingRequest(waiting.handle);
    const acting = await submitJob(
      server.client,
      {
        agent: 'release-bot',
        title: 'Acts through a restart',
        steps: [
          { id: 'one', action: 'http.request', input: { method: 'POST', url: slowUrl, json: { n: 1 } } },
          { id: 'two', action: 'http.request', input: { method: 'POST', url: slowUrl, json: { n: 2 } } },
        ],
      },
      { ...opts, jobId: uniqueId('job') },
    );
    await eventually(() => requests === 1, 'the first action to be in flight');

    // The restart: the same SQLite file on the same port.
    const down = performance.now();
    await server.teardown();
    server = undefined;
    server = await startDevServer({ dbFilename: sqlite, port });
    console.log(`temporal server restarted in ${(performance.now() - down).toFixed(0)} ms`);

    await vote(server.client, 'alice', request.id, 'approve');
    const h1 = server.client.workflow.getHandle(waiting.handle.workflowId);
    const h2 = server.client.workflow.getHandle(acting.handle.workflowId);
    const [r1, r2] = await Promise.all([h1.result(), h2.result()]);
    console.log(`both jobs finished ${(performance.now() - down).toFixed(0)} ms after the restart began`);
    expect(r1.status).toBe('succeeded');
    expect(r2.status).toBe('succeeded');
    expect((await h1.query(jobStateQuery)).approvals[0].votes.map((v) => v.approver)).toEqual(['alice']);
    // The action in flight during the restart may run again (its completion was lost): at least once, each step.
    expect(requests).toBeGreaterThanOrEqual(2);
  } finally {
    slow.closeAllConnections();
    slow.close();
    cleanup();
  }
});
