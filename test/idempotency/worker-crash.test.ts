/**
 * Idempotency, tested rather than claimed: a worker process is SIGKILLed in the middle of an action, a new worker
 * finishes the job, and the side effect happened exactly once.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { builtinTools, ToolRegistry } from '../../activities';
import type { ToolDefinition } from '../../activities/tool';
import { submitJob } from '../../src/jobs/submit';
import { jobStateQuery } from '../../workflows/messages';
import { gitOut, makeRepo } from '../helpers/git';
import { uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { usePostgresDatabase } from '../helpers/postgres';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const temporal = useTemporalServer();
// Two worker processes share the audit trail, one of them killed mid-action: a real PostgreSQL database.
const pg = usePostgresDatabase();
const dataDir = mkdtempSync(join(tmpdir(), 'airlock-crash-'));
const auditEnv = () => ({ AIRLOCK_DATABASE_URL: pg.url, AIRLOCK_DATA_DIR: dataDir });
const workers: WorkerProcess[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.kill()));
});

/** The built-in tools with short timeouts, so a dead worker is noticed in seconds instead of minutes. */
function fastRegistry(): ToolRegistry {
  return new ToolRegistry(
    builtinTools.map((t): ToolDefinition => ({
      ...t,
      timeouts: { startToCloseMs: 4_000, heartbeatMs: t.timeouts?.heartbeatMs ? 2_000 : undefined },
    })),
  );
}

/** Attempt number and worker identity of each start of an activity type, from the workflow history. */
async function attemptsOf(handle: WorkflowHandle, activityType: string) {
  const { events } = await handle.fetchHistory();
  const scheduled = new Map<string, string>();
  const starts: { attempt?: number | null; identity?: string | null }[] = [];
  for (const e of events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '');
    const st = e.activityTaskStartedEventAttributes;
    if (st && scheduled.get(String(st.scheduledEventId)) === activityType)
      starts.push({ attempt: st.attempt, identity: st.identity });
  }
  return starts;
}

test('http.request: worker killed while the server is answering; the retry carries the same key; one charge', async () => {
  // A payment API that deduplicates by Idempotency-Key (as Stripe does), applies the charge on receipt, and holds the
  // first response open so the worker dies in the middle of the action.
  const charges = new Map<string, { id: string; amount: number }>();
  const received: string[] = [];
  let applied = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const key = String(req.headers['idempotency-key']);
      received.push(key);
      const existing = charges.get(key);
      if (existing) {
        res.writeHead(200, { 'content-type': 'application/json', 'idempotent-replayed': 'true' });
        res.end(JSON.stringify(existing));
        return;
      }
      applied += 1;
      charges.set(key, { id: `ch_${applied}`, amount: JSON.parse(body).amount });
      // First delivery: never answer. The worker is killed while waiting.
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const taskQueue = uniqueId('crash');
  try {
    const spawnOpts = {
      address: temporal.env.connection.options.address,
      taskQueue,
      // The local payment API: plain http to loopback, opted into as for local development.
      env: {
        AIRLOCK_HTTP_ALLOWED_HOSTS: '127.0.0.1:*',
        AIRLOCK_HTTP_INSECURE_HOSTS: '127.0.0.1:*',
        AIRLOCK_HTTP_ALLOWED_NETWORKS: '127.0.0.0/8',
        ...auditEnv(),
      },
    };
    workers.push(await spawnWorker({ ...spawnOpts, identity: 'worker-1' }));
    const { handle, jobId } = await submitJob(
      temporal.env.client,
      {
        agent: 'billing-bot',
        title: 'Charge a customer',
        steps: [
          {
            id: 'charge',
            action: 'http.request',
            input: { method: 'POST', url: `http://127.0.0.1:${port}/charges`, json: { amount: 4200 } },
          },
        ],
      },
      { registry: fastRegistry(), taskQueue, requester: 'tester', jobId: uniqueId('job') },
    );
    await eventually(() => applied === 1, 'the first request to reach the server');
    await workers[0].kill();

    workers.push(await spawnWorker({ ...spawnOpts, identity: 'worker-2' }));
    const result = await handle.result();
    expect(result.outputs.charge).toMatchObject({ status: 200, body: { id: 'ch_1', amount: 4200 } });
    expect(applied).toBe(1);
    expect(received).toEqual([`${jobId}/charge`, `${jobId}/charge`]);
    expect(await attemptsOf(handle, 'http.request')).toEqual([{ attempt: 2, identity: 'worker-2' }]);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('git.commit: worker killed after the ref moved but before the activity returned; exactly one commit', async () => {
  const { repo, cleanup } = makeRepo();
  const armed = `${repo}.armed`;
  const reached = `${repo}.reached`;
  // git runs reference-transaction after the ref update is committed and waits for it: a window where the side
  // effect is done but the activity has not reported it. The hook fires once, only for updates (not creations).
  // Repository hooks never run; the worker runs this one as an operator hook (AIRLOCK_GIT_HOOKS_PATH).
  const hooks = `${repo}.hooks`;
  mkdirSync(hooks);
  const hook = join(hooks, 'reference-transaction');
  writeFileSync(
    hook,
    `#!/bin/sh
[ "$1" = committed ] || exit 0
grep -q '^0\\{40\\} ' && exit 0
[ -f '${armed}' ] || exit 0
rm -f '${armed}'
touch '${reached}'
sleep 30
`,
  );
  chmodSync(hook, 0o755);
  writeFileSync(armed, '');
  const taskQueue = uniqueId('crash');
  try {
    const spawnOpts = {
      address: temporal.env.connection.options.address,
      taskQueue,
      env: { ...auditEnv(), AIRLOCK_GIT_HOOKS_PATH: hooks },
    };
    workers.push(await spawnWorker({ ...spawnOpts, identity: 'worker-1' }));
    const { handle, jobId } = await submitJob(
      temporal.env.client,
      {
        agent: 'release-bot',
        title: 'Commit once',
        steps: [
          { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'once', from: 'main' } },
          {
            id: 'commit',
            action: 'git.commit',
            input: { repo, branch: 'once', message: 'Add file', files: [{ path: 'a.txt', content: 'a\n' }] },
          },
        ],
      },
      { registry: fastRegistry(), taskQueue, requester: 'tester', jobId: uniqueId('job') },
    );
    await eventually(() => existsSync(reached), 'the commit to land in the ref');
    await workers[0].kill();

    workers.push(await spawnWorker({ ...spawnOpts, identity: 'worker-2' }));
    const result = await handle.result();
    expect(result.outputs.commit).toMatchObject({ branch: 'once', created: false });
    const keyed = gitOut(repo, 'log', '--format=%H', `--grep=Airlock-Idempotency-Key: ${jobId}/commit`, 'once')
      .split('\n')
      .filter(Boolean);
    expect(keyed).toHaveLength(1);
    expect(gitOut(repo, 'rev-list', '--count', 'main..once')).toBe('1');
    const state = await handle.query(jobStateQuery);
    expect(state.status).toBe('succeeded');
    // History records only the last attempt's start: attempt 2, on the new worker.
    expect(await attemptsOf(handle, 'git.commit')).toEqual([{ attempt: 2, identity: 'worker-2' }]);
  } finally {
    rmSync(armed, { force: true });
    rmSync(reached, { force: true });
    cleanup();
  }
});
