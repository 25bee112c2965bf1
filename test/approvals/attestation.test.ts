/**
 * Who approved is proven, not claimed: a `decide` update sent straight to the workflow (an operator's break-glass
 * access to the Temporal namespace) counts only with a channel's valid attestation, for this request, under this
 * policy version, signed at a plausible time. Real Temporal dev server; the trail is then verified offline.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { builtinRegistry } from '../../activities';
import { createAttestor, generateAttestationKey } from '../../src/attestation';
import { verifyExport } from '../../src/audit/store';
import type { ApprovalRequest, Vote } from '../../src/core/approval';
import { commentDigest, type AttestedVote, type Attestor } from '../../src/core/attestation';
import { submitJob } from '../../src/jobs/submit';
import { decideUpdate, jobStateQuery } from '../../workflows/messages';
import { pendingRequest, vote } from '../helpers/approvals';
import { attestationKeys, testAttestor } from '../helpers/attestation';
import { makeRepo } from '../helpers/git';
import { fixture, testWorker, uniqueId, useTemporalServer } from '../helpers/temporal';

const temporal = useTemporalServer();
const registry = builtinRegistry();

const shipJob = (repo: string, agent = 'release-bot') => ({
  agent,
  title: 'Ship 1.2.3',
  steps: [
    { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'rel', from: 'main' } },
    { id: 'merge', action: 'git.merge', input: { repo, source: 'rel', target: 'main' } },
  ],
});

/** What the API channel would attest for alice approving `request`, with `over` changed. */
const payload = (request: ApprovalRequest, over: Partial<AttestedVote> = {}): AttestedVote => ({
  person: 'alice',
  groups: ['sre'],
  channel: 'api',
  channelIdentity: 'token:test-alice',
  requestId: request.id,
  digest: request.inputDigest,
  policyHash: request.policyHash,
  decision: 'approve',
  at: new Date().toISOString(),
  nonce: randomUUID(),
  ...over,
});

/** The vote the update carries: the plain fields from the payload, and the attestation. */
const voteOf = (p: AttestedVote, attestor: Attestor = testAttestor, over: Partial<Vote> = {}): Vote => ({
  requestId: p.requestId,
  approver: p.person,
  approverGroups: p.groups,
  channel: p.channel,
  decision: p.decision,
  digest: p.digest,
  attestation: attestor.attest(p),
  ...over,
});

/** Sends the update straight to the workflow; resolves with the refusal code (or fails the test if accepted). */
async function refusedCode(handle: WorkflowHandle, v: Vote): Promise<{ code: string; message: string }> {
  const err = await handle.executeUpdate(decideUpdate, { args: [v] }).then(
    (ok) => {
      throw new Error(`the vote was accepted: ${JSON.stringify(ok)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (err as WorkflowUpdateFailedError).cause as ApplicationFailure;
  expect(cause.type).toBe('ApprovalRefused');
  return { code: (cause.details?.[0] as { code: string }).code, message: cause.message };
}

test('votes sent straight to the workflow without a valid attestation are refused; the request stays pending', async () => {
  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await testWorker(temporal.env, { policy: fixture('policy-approvals.yaml') });
  try {
    await worker.runUntil(async () => {
      const { handle, jobId } = await submitJob(temporal.env.client, shipJob(repo), {
        registry,
        taskQueue,
        requester: 'erin',
        attestationKeys,
        jobId: uniqueId('job'),
      });
      const request = await pendingRequest(handle);
      const p = payload(request);
      const { attestation: _none, ...plain } = voteOf(p);
      const other = createAttestor(generateAttestationKey());

      const cases: [string, Vote, RegExp][] = [
        ['no attestation, the right names', plain, /carries no attestation/],
        ['signed by a key the job does not trust', voteOf(p, other), /is not one this job trusts/],
        [
          'the api key attesting a Slack vote',
          (() => {
            const slack = payload(request, { channel: 'slack' });
            const a = testAttestor.attest(slack);
            return voteOf(slack, testAttestor, {
              attestation: { ...a, keyId: attestationKeys.find((k) => k.channel === 'api')!.keyId },
            });
          })(),
          /is the api channel's, not the slack one's/,
        ],
        [
          "alice's signature on a payload changed to bob",
          voteOf(p, testAttestor, {
            approver: 'bob',
            attestation: { ...testAttestor.attest(p), payload: { ...p, person: 'bob' } },
          }),
          /signature is not valid/,
        ],
        [
          "bob's vote carrying alice's attestation",
          voteOf(p, testAttestor, { approver: 'bob' }),
          /says something else/,
        ],
        [
          'groups claimed beyond the attested ones',
          voteOf(payload(request, { person: 'dave', groups: ['developers'] }), testAttestor, {
            approverGroups: ['sre'],
          }),
          /says something else/,
        ],
        [
          'a comment other than the attested one',
          voteOf(payload(request, { commentDigest: commentDigest('lgtm') }), testAttestor, { comment: 'ship all' }),
          /says something else/,
        ],
        [
          'attested for another request',
          voteOf(payload(request, { requestId: `${jobId}:branch` }), testAttestor, { requestId: request.id }),
          /is for request .*:branch/,
        ],
        [
          'attested under another policy version',
          voteOf(payload(request, { policyHash: `sha256:${'1'.repeat(64)}` })),
          /is for policy sha256:1+/,
        ],
        [
          'signed before the request was asked',
          voteOf(payload(request, { at: new Date(Date.parse(request.requestedAt) - 3_600_000).toISOString() })),
          /before the request was asked/,
        ],
        [
          'signed in the future',
          voteOf(payload(request, { at: new Date(Date.now() + 3_600_000).toISOString() })),
          /in the future/,
        ],
      ];
      for (const [what, v, reason] of cases) {
        const refused = await refusedCode(handle, v);
        expect([what, refused.code]).toEqual([what, 'invalid_attestation']);
        expect(refused.message).toMatch(reason);
      }
      // The attested identity is the one checked: dave's attestation, however the plain fields read, is not an SRE.
      const dave = payload(request, { person: 'dave', groups: ['developers'] });
      expect((await refusedCode(handle, voteOf(dave))).code).toBe('not_in_group');
      // Nothing was counted.
      let state = await handle.query(jobStateQuery);
      expect(state.status).toBe('awaiting_approval');
      expect(state.approvals[0]).toMatchObject({ status: 'pending', votes: [] });

      // A valid attestation sent the same way counts, and is kept with the vote.
      expect(await handle.executeUpdate(decideUpdate, { args: [voteOf(p)] })).toMatchObject({ approvals: 1 });
      await vote(temporal.env.client, 'bob', request.id, 'approve', { comment: 'ship it' });
      await handle.result();
      state = await handle.query(jobStateQuery);
      expect(state.approvals[0].votes.map((v) => [v.approver, v.attestation?.payload.person])).toEqual([
        ['alice', 'alice'],
        ['bob', 'bob'],
      ]);

      // Offline, from the export: both votes verify against the keys recorded in the trail's job.submitted.
      const store = temporal.audit();
      const jsonl = await store.exportJsonl(jobId);
      expect(verifyExport(jsonl)).toMatchObject({ ok: true, votes: { total: 2, attested: 2, keys: 'trail' } });
      expect(verifyExport(jsonl, undefined, other.publicKeys())).toMatchObject({
        ok: false,
        type: 'approval.vote',
        reason: expect.stringContaining('is not one this job trusts'),
      });
    });
  } finally {
    cleanup();
  }
});

test('the agent never approves its own job, even as a person of the directory', async () => {
  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await testWorker(temporal.env, { policy: fixture('policy-approvals.yaml') });
  try {
    await worker.runUntil(async () => {
      // An agent named like a person: that person's vote on the agent's job is refused.
      const { handle } = await submitJob(temporal.env.client, shipJob(repo, 'alice'), {
        registry,
        taskQueue,
        requester: 'erin',
        attestationKeys,
        jobId: uniqueId('job'),
      });
      const request = await pendingRequest(handle);
      const err = await vote(temporal.env.client, 'alice', request.id, 'approve').catch((e: { code?: string }) => e);
      expect(err).toMatchObject({ code: 'self_approval', message: expect.stringContaining("the job's agent") });
      expect((await handle.query(jobStateQuery)).approvals[0].votes).toEqual([]);
      await handle.cancel();
      await handle.result().catch(() => undefined);
    });
  } finally {
    cleanup();
  }
});
