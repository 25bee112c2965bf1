/** Completion callbacks: POSTed once the job ends, HMAC-signed, retried with backoff until the receiver takes it. */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { builtinRegistry } from '../../activities';
import { signCallback } from '../../activities/job';
import { readCallbackStatus } from '../../src/jobs/read';
import { submitJob } from '../../src/jobs/submit';
import { makeRepo } from '../helpers/git';
import { testDeps, testWorker, uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';

const temporal = useTemporalServer();
const SECRET = 'callback-secret-for-tests';

test('the outcome is POSTed signed; a failing receiver is retried until it answers 2xx', async () => {
  const deliveries: { headers: IncomingHttpHeaders; body: string; answered: number }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const answered = deliveries.length === 0 ? 503 : 200; // down the first time
      deliveries.push({ headers: req.headers, body, answered });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await testWorker(temporal.env, { callbackSecret: SECRET });
  try {
    await worker.runUntil(async () => {
      const { handle, jobId } = await submitJob(
        temporal.env.client,
        {
          agent: 'release-bot',
          title: 'With a callback',
          callbackUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/airlock`,
          steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch: 'cb' } }],
        },
        { registry: builtinRegistry(), taskQueue, requester: 'ci', jobId: uniqueId('job') },
      );
      await handle.result();
      await eventually(() => deliveries.length === 2, 'the retried callback', 30_000);
      const last = deliveries[1];
      expect(deliveries.map((d) => d.answered)).toEqual([503, 200]);
      expect(JSON.parse(last.body)).toMatchObject({ jobId, status: 'succeeded', compensated: [] });
      const ts = String(last.headers['x-airlock-timestamp']);
      expect(last.headers['x-airlock-signature']).toBe(signCallback(SECRET, ts, last.body));
      expect(last.headers['idempotency-key']).toBe(`${jobId}/callback`);
    });
  } finally {
    server.close();
    cleanup();
  }
});

test('a callback to a loopback address is refused unless its network is configured', async () => {
  const deliveries: string[] = [];
  const server = createServer((req, res) => {
    deliveries.push(req.url!);
    res.writeHead(200).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { repo, cleanup } = makeRepo();
  // The default: public addresses only. (The other tests opt in to loopback, as local development does.)
  const deps = { http: { ...testDeps().http, allowedNetworks: [] } };
  const { worker, taskQueue } = await testWorker(temporal.env, { callbackSecret: SECRET, deps });
  try {
    await worker.runUntil(async () => {
      const { handle } = await submitJob(
        temporal.env.client,
        {
          agent: 'release-bot',
          title: 'Callback to loopback',
          callbackUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/airlock`,
          steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch: 'cb' } }],
        },
        { registry: builtinRegistry(), taskQueue, requester: 'ci', jobId: uniqueId('job') },
      );
      // The refusal is permanent (not retried): the delivery gives up without the receiver hearing anything, and the
      // job, which ended before anyone was called, stays as it ended.
      expect(await handle.result()).toMatchObject({ status: 'succeeded' });
      const status = await eventually(async () => {
        const s = await readCallbackStatus(temporal.env.client, handle.workflowId);
        return s?.state === 'failed' && s;
      }, 'the callback delivery to give up');
      expect(status.lastError?.message).toMatch(/127\.0\.0\.1 is not allowed/);
      expect(deliveries).toEqual([]);
    });
  } finally {
    server.close();
    cleanup();
  }
});
