/**
 * Fault suite: the callback receiver is down (nothing listens on its port: connection refused) when the job ends,
 * then comes back on the same port. The job's end state never changes while the callback is retried, and the
 * callback arrives once.
 */
import { createServer, type Server } from 'node:http';
import { builtinRegistry } from '../../activities';
import { submitJob } from '../../src/jobs/submit';
import { jobStateQuery } from '../../workflows/messages';
import { makeRepo } from '../helpers/git';
import { testWorker, uniqueId, useTemporalServer } from '../helpers/temporal';

const temporal = useTemporalServer();
const DOWN_MS = 8_000;

test('callback receiver down, then back: the end state stays, the callback arrives once', async () => {
  const received: string[] = [];
  const receiver = (): Server =>
    createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push(body);
        res.writeHead(200).end();
      });
    });
  const listen = (server: Server, port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  // A port that was free a moment ago, with nothing listening on it while the job ends. Below the ephemeral range
  // (32768+), so no outgoing connection takes it meanwhile.
  let port = 0;
  for (let tries = 0; !port && tries < 50; tries++) {
    const candidate = 20_000 + Math.floor(Math.random() * 10_000);
    const probe = receiver();
    const ok = await listen(probe, candidate).then(
      () => true,
      () => false,
    );
    if (ok) {
      port = candidate;
      await new Promise<void>((r) => probe.close(() => r()));
    }
  }

  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await testWorker(temporal.env, { callbackSecret: 'callback-secret-for-tests' });
  let server: Server | undefined;
  try {
    await worker.runUntil(async () => {
      const { handle, jobId } = await submitJob(
        temporal.env.client,
        {
          agent: 'release-bot',
          title: 'Callback to a receiver that is down',
          callbackUrl: `http://127.0.0.1:${port}/airlock`,
          steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch: 'cb-down' } }],
        },
        { registry: builtinRegistry(), taskQueue, requester: 'ci', jobId: uniqueId('job') },
      );
      const result = await handle.result();
      expect(result.status).toBe('succeeded');
      const ended = performance.now();
      // Down: the state is final while the callback is being retried.
      while (performance.now() - ended < DOWN_MS) {
        expect((await handle.query(jobStateQuery)).status).toBe('succeeded');
        await new Promise((r) => setTimeout(r, 1_000));
      }
      expect(received).toHaveLength(0);

      server = receiver();
      await listen(server, port);
      const back = performance.now();
      while (received.length === 0 && performance.now() - back < 90_000) await new Promise((r) => setTimeout(r, 250));
      console.log(`callback delivered ${(performance.now() - back).toFixed(0)} ms after the receiver came back`);
      // Long enough for a second delivery to show up if there were one.
      await new Promise((r) => setTimeout(r, 3_000));
      expect(received).toHaveLength(1);
      expect(JSON.parse(received[0])).toMatchObject({ jobId, status: 'succeeded' });
      expect((await handle.query(jobStateQuery)).status).toBe('succeeded');
    });
  } finally {
    server?.close();
    cleanup();
  }
});
