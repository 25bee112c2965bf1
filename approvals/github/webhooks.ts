/**
 * GitHub webhooks at `POST /github/webhooks` (@octokit/webhooks): the X-Hub-Signature-256 is verified over the raw
 * body with the webhook secret (timing-safe) and a forged or missing one is answered 401; each X-GitHub-Delivery is
 * taken once (seen_deliveries, shared by every API instance), so a redelivery changes nothing; GitHub is answered at
 * once and the event handled after. Unknown events are acknowledged and ignored.
 *
 * Decisions: a submitted review (approved → approve; changes_requested → reject, its body the reason), a comment
 * `/airlock approve [note]` or `/airlock reject <reason>`, a click on the `airlock/approval` check run's buttons.
 * Each goes through deliverVote with the GitHub channel's attestation (`github:<login>`); the login is resolved to a
 * person through the people file, never guessed; unknown logins and refused votes get a reply comment saying why;
 * bots (Airlock's own comments among them) are ignored.
 *
 * Binding to code: a push to the pull request (`pull_request` `synchronize`) tells each open round on it shown for
 * another head (headMovedSignal): the votes so far were for that head, so the job asks again for the new one.
 *
 * Deployments: a `deployment_protection_rule` (`requested`) starts a gate job (opts.deploymentGate).
 */
import { Webhooks } from '@octokit/webhooks';
import { keepRawBody } from '../raw-body';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Attestor } from '../../src/core/attestation';
import type { AuditSink } from '../../src/core/audit';
import { splitRepo, type GithubClients } from '../../src/core/github';
import type { PeopleDirectory } from '../../src/core/people';
import { headMovedSignal } from '../../workflows/messages';
import { ApprovalRefusedError, deliverVote, parseRequestId } from '../deliver';
import type { SeenDeliveries } from '../seen-deliveries';
import { ACTION_APPROVE, ACTION_REJECT } from './render';
import type { GithubRounds, Round } from './rounds';

/** How long a delivery id is remembered: GitHub lets people redeliver for up to 3 days; kept longer. */
const KEEP_DELIVERIES_SECONDS = 30 * 86_400;

export interface GithubWebhookOptions {
  secret: string;
  temporal: Client;
  directory: PeopleDirectory;
  attestor: Attestor;
  github: GithubClients;
  rounds: GithubRounds;
  seen: SeenDeliveries;
  audit?: AuditSink;
  log?: { error: (obj: object, msg: string) => void };
  /** Starts the gate of a `deployment_protection_rule` webhook (src/github-deployments.ts); absent: ignored. */
  deploymentGate?: (payload: never) => Promise<unknown>;
}

interface Sender {
  login: string;
  type?: string;
}

/** `/airlock approve [note]` or `/airlock reject <reason>` at the start of a comment; anything else is not a vote. */
export function parseCommand(
  body: string,
): { decision: 'approve' | 'reject'; comment?: string } | 'no-reason' | undefined {
  const m = /^\s*\/airlock\s+(approve|reject)\b[ \t]*([\s\S]*)$/i.exec(body);
  if (!m) return undefined;
  const decision = m[1].toLowerCase() as 'approve' | 'reject';
  const comment = m[2].trim() || undefined;
  if (decision === 'reject' && !comment) return 'no-reason';
  return { decision, ...(comment ? { comment } : {}) };
}

export function createGithubWebhooks(opts: GithubWebhookOptions) {
  const webhooks = new Webhooks({ secret: opts.secret });
  const isBot = (s: Sender) => s.type === 'Bot' || s.login.endsWith('[bot]');

  const reply = async (repo: string, pr: number, text: string) => {
    const octokit = await opts.github.forRepo(repo);
    await octokit.rest.issues.createComment({ ...splitRepo(repo), issue_number: pr, body: text });
  };

  /** One human decision on the rounds it names; replies when it is refused. */
  const decide = async (
    repo: string,
    pr: number,
    sender: Sender,
    decision: 'approve' | 'reject',
    rounds: Round[],
    comment?: string,
  ) => {
    if (!rounds.length) return;
    const person = opts.directory.byGithub(sender.login);
    if (!person) {
      await reply(
        repo,
        pr,
        `@${sender.login} your ${decision} was not counted: Airlock does not know GitHub user \`${sender.login}\`; ask an admin to add you to the people file.`,
      );
      return;
    }
    for (const round of rounds) {
      try {
        await deliverVote(
          opts.temporal,
          opts.attestor,
          {
            person,
            requestId: round.requestId,
            decision,
            channel: 'github',
            channelIdentity: `github:${sender.login}`,
            ...(comment !== undefined ? { comment } : {}),
            digest: round.digest,
          },
          opts.audit,
        );
      } catch (err) {
        if (!(err instanceof ApprovalRefusedError)) throw err;
        await reply(
          repo,
          pr,
          `@${sender.login} your ${decision} of \`${round.requestId}\` was not counted: ${err.message}`,
        );
      }
    }
  };

  webhooks.on('pull_request_review.submitted', async ({ payload }) => {
    const { review, pull_request: pr, repository, sender } = payload;
    if (isBot(sender)) return;
    const state = review.state.toLowerCase();
    if (state !== 'approved' && state !== 'changes_requested') return;
    const rounds = await opts.rounds.openOn(repository.full_name, pr.number);
    await decide(
      repository.full_name,
      pr.number,
      sender,
      state === 'approved' ? 'approve' : 'reject',
      rounds,
      review.body ?? (state === 'approved' ? undefined : 'changes requested on GitHub'),
    );
  });

  webhooks.on('issue_comment.created', async ({ payload }) => {
    const { issue, comment, repository, sender } = payload;
    if (isBot(sender) || !issue.pull_request) return;
    const command = parseCommand(comment.body ?? '');
    if (!command) return;
    const rounds = await opts.rounds.openOn(repository.full_name, issue.number);
    if (!rounds.length) return;
    if (command === 'no-reason') {
      await reply(
        repository.full_name,
        issue.number,
        `@${sender.login} a rejection needs a reason: \`/airlock reject <reason>\`.`,
      );
      return;
    }
    await decide(repository.full_name, issue.number, sender, command.decision, rounds, command.comment);
  });

  webhooks.on('pull_request.synchronize', async ({ payload }) => {
    const { pull_request: pr, repository } = payload;
    const headSha = pr.head.sha;
    for (const round of await opts.rounds.openOn(repository.full_name, pr.number)) {
      if (round.headSha === headSha) continue;
      const { jobId } = parseRequestId(round.requestId);
      await opts.temporal.workflow.getHandle(jobId).signal(headMovedSignal, { requestId: round.requestId, headSha });
    }
  });

  webhooks.on('deployment_protection_rule.requested', async ({ payload }) => {
    await opts.deploymentGate?.(payload as never);
  });

  webhooks.on('check_run.requested_action', async ({ payload }) => {
    const { check_run: run, requested_action: action, repository, sender } = payload;
    if (isBot(sender) || !run.external_id) return;
    const round = await opts.rounds.get(run.external_id);
    if (!round || round.status !== 'pending') return;
    const id = action?.identifier;
    if (id !== ACTION_APPROVE && id !== ACTION_REJECT) return;
    await decide(
      repository.full_name,
      round.pr,
      sender,
      id === ACTION_APPROVE ? 'approve' : 'reject',
      [round],
      id === ACTION_REJECT ? 'rejected with the check run button' : undefined,
    );
  });

  /** Registers `POST /github/webhooks` on Airlock's server (public: authenticated by the signature). */
  const register = (server: FastifyInstance) =>
    server.register(async (scope) => {
      // The signature covers the raw bytes: keep the body as a string.
      keepRawBody(scope);
      scope.post(
        '/github/webhooks',
        { config: { auth: { public: true } }, schema: { hide: true } },
        async (req, res) => {
          const raw = String(req.body ?? '');
          const signature = req.headers['x-hub-signature-256'];
          const event = req.headers['x-github-event'];
          const delivery = req.headers['x-github-delivery'];
          if (typeof signature !== 'string' || !(await webhooks.verify(raw, signature).catch(() => false)))
            return res
              .status(401)
              .send({ error: 'invalid_signature', message: 'X-Hub-Signature-256 is missing or wrong' });
          if (typeof event !== 'string' || typeof delivery !== 'string')
            return res
              .status(400)
              .send({ error: 'invalid_request', message: 'X-GitHub-Event and X-GitHub-Delivery are required' });
          if (!(await opts.seen.firstTime('github', delivery, Math.floor(Date.now() / 1000), KEEP_DELIVERIES_SECONDS)))
            return res.status(200).send({ ok: true, duplicate: true });
          let payload: unknown;
          try {
            payload = JSON.parse(raw);
          } catch {
            return res.status(400).send({ error: 'malformed_json', message: 'the body is not valid JSON' });
          }
          // Answered now; handled after (GitHub waits 10 s at most and does not retry).
          setImmediate(() => {
            webhooks
              .receive({ id: delivery, name: event, payload } as Parameters<typeof webhooks.receive>[0])
              .catch((err) => (opts.log ?? req.log).error({ err, delivery, event }, 'github webhook handler failed'));
          });
          return res.status(202).send({ ok: true });
        },
      );
    });

  return { webhooks, register };
}
