/**
 * Fault suite: Slack's Web API answers every call with an error for a minute (FAULTS_SLACK_OUTAGE_MS). The job is
 * decided on time through the API, and once Slack answers again its message catches up: posted once, showing the
 * outcome.
 */

import { builtinRegistry } from '../../activities';
import { submitJob } from '../../src/jobs/submit';
import { pendingRequest, vote } from '../helpers/approvals';
import { attestationKeys } from '../helpers/attestation';
import { makeRepo } from '../helpers/git';
import { startSlackServer } from '../helpers/slack-server';
import { testWorker, uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { mergeJob, mergePolicy } from './helpers';

const OUTAGE_MS = Number(process.env.FAULTS_SLACK_OUTAGE_MS ?? 60_000);
const temporal = useTemporalServer();
const { policy } = mergePolicy('airlock-slackdown-', {
  allow: ['git.create_branch'],
  approval: "{ groups: [sre], quorum: 1, timeout: 1h, channels: ['slack:C0APPROVALS', api] }",
});

test(`Slack failing for ${OUTAGE_MS / 1000} s: the job decides on time through the API; the message catches up`, async () => {
  const slack = await startSlackServer();
  slack.faults.error = () => 'internal_error';
  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await testWorker(temporal.env, {
    policy,
    config: {
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: 'secret',
      SLACK_API_URL: slack.url,
      SLACK_APPROVAL_CHANNEL: 'C0DEFAULT',
    },
  });
  try {
    await worker.runUntil(async () => {
      const outage = performance.now();
      const { handle } = await submitJob(
        temporal.env.client,
        mergeJob('Decided while Slack fails', repo, 'slack-down'),
        { registry: builtinRegistry(), taskQueue, requester: 'bob', attestationKeys, jobId: uniqueId('job') },
      );
      const request = await pendingRequest(handle);
      await vote(temporal.env.client, 'alice', request.id, 'approve');
      const result = await handle.result();
      const decidedMs = performance.now() - outage;
      console.log(`decided through the API ${decidedMs.toFixed(0)} ms into a ${OUTAGE_MS} ms Slack outage`);
      expect(result.status).toBe('succeeded');
      expect(decidedMs).toBeLessThan(OUTAGE_MS);
      expect(slack.messages).toHaveLength(0);

      await new Promise((r) => setTimeout(r, OUTAGE_MS - (performance.now() - outage)));
      slack.faults.error = undefined;
      const back = performance.now();
      await eventually(
        () => slack.messages.length === 1 && JSON.stringify(slack.messages[0].blocks).includes('Approved'),
        'the message to catch up',
        90_000,
      );
      console.log(`Slack message caught up ${(performance.now() - back).toFixed(0)} ms after Slack came back`);
      expect(slack.messages).toHaveLength(1);
      expect(slack.messages[0].channel).toBe('C0APPROVALS');
    });
  } finally {
    await slack.close();
    cleanup();
  }
});
