/**
 * Fault suite: votes that arrive before the request is open (the job still acting on an earlier step), and votes sent
 * while the workflow is busy with a task. Each is applied once or refused with a reason; none is lost silently.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { builtinRegistry } from '../../activities';
import { submitJob } from '../../src/jobs/submit';
import { jobStateQuery } from '../../workflows/messages';
import { pendingRequest, vote } from '../helpers/approvals';
import { attestationKeys } from '../helpers/attestation';
import { makeRepo } from '../helpers/git';
import { testWorker, uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { mergePolicy } from './helpers';

const temporal = useTemporalServer();
const { policy } = mergePolicy('airlock-early-', {
  allow: ['git.create_branch', 'http.request'],
  approval: '{ groups: [sre, sre-leads], quorum: 2, timeout: 1h, channels: [api] }',
  rule: 'merge-needs-two-sres',
});

test('a vote before the request opens is refused with a reason; votes during workflow tasks are applied once', async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let requests = 0;
  const slow: Server = createServer((req, res) => {
    requests += 1;
    req.resume();
    void held.then(() => res.end('{}'));
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/prepare`;
  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await testWorker(temporal.env, { policy });
  try {
    await worker.runUntil(async () => {
      const { handle, jobId } = await submitJob(
        temporal.env.client,
        {
          agent: 'release-bot',
          title: 'Early votes',
          steps: [
            { id: 'prepare', action: 'http.request', input: { method: 'POST', url, json: {} } },
            { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'early' } },
            { id: 'merge', action: 'git.merge', input: { repo, source: 'early', target: 'main' } },
          ],
        },
        { registry: builtinRegistry(), taskQueue, requester: 'bob', attestationKeys, jobId: uniqueId('job') },
      );
      await eventually(() => requests === 1, 'the first step in flight');
      // The request does not exist yet: refused, saying so, and nothing recorded.
      const early = await vote(temporal.env.client, 'alice', `${jobId}:merge`, 'approve').then(
        () => 'applied',
        (err: Error) => err.message,
      );
      console.log(`a vote before the request opened: ${early}`);
      expect(early).toBe(`no approval request ${jobId}:merge`);
      release();

      const request = await pendingRequest(handle);
      expect(request.votes).toEqual([]);
      // Two people at once, and each of them twice, while the workflow is processing the others' updates.
      const outcomes = await Promise.allSettled([
        vote(temporal.env.client, 'alice', request.id, 'approve'),
        vote(temporal.env.client, 'carol', request.id, 'approve'),
        vote(temporal.env.client, 'alice', request.id, 'approve'),
        vote(temporal.env.client, 'carol', request.id, 'approve'),
      ]);
      for (const o of outcomes) if (o.status === 'rejected') expect(String(o.reason)).toMatch(/already|ended|closed/i);
      const result = await handle.result();
      expect(result.status).toBe('succeeded');
      const votes = (await handle.query(jobStateQuery)).approvals[0].votes.map((v) => v.approver).sort();
      expect(votes).toEqual(['alice', 'carol']);
    });
  } finally {
    slow.closeAllConnections();
    slow.close();
    cleanup();
  }
});
