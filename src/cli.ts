/**
 * The `airlock` command line. Each command is a thin shell over the same functions the API and tests use.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { builtinRegistry } from '../activities';
import { connectClient } from './client';
import { ConfigError, loadConfig, type Config } from './config';
import { checkStartCredentials, composeAirlock, WorkerRoleError } from './compose';
import { workerRoles, type WorkerRole } from './worker';
import { startStack } from './dev/stack';
import { clusterDown, clusterOptions, clusterStatus, clusterUp, ensureNamespace } from './temporal/cluster';
import { checkSignerConfig, openAudit } from './audit/open';
import { Keyring } from './audit/keyring';
import { exportLines, verifyExport } from './audit/store';
import { StoreInUseError } from './audit/lock';
import { readFileSync, writeFileSync } from 'node:fs';
import { FreezeControl, JobFrozenError } from './freeze';
import { findRequest, listPendingApprovals } from '../approvals/deliver';
import { readKeyring, submitterAttestationKeys } from './attestation';
import { hashToken } from './people';
import { loadPolicyFile } from './policy/load';
import { PolicyStore } from './policy/store';
import { ConfigFileError } from './yaml-config';
import type { ApprovalRequest } from './core/approval';
import { readJobFile } from './jobs/job-file';
import { JobValidationError, planJob } from './jobs/plan';
import { listJobs } from './jobs/read';
import { formatTriage, jobView } from './operations/triage';
import { startPlannedJob } from './jobs/submit';
import { formatTimeline } from './jobs/timeline';
import { createLogger, installTemporalLogger } from './logger';
import { jobStateQuery } from '../workflows/messages';
import { JobStatus } from './core/job';
import {
  bundleWorkflows,
  formatOutcome,
  historiesById,
  historiesByQuery,
  replayJobs,
  saveHistory,
  type HistoryToReplay,
  type ReplayOutcome,
} from './operations/replay';

const collect = (value: string, previous: Record<string, string>) => {
  const eq = value.indexOf('=');
  if (eq < 1) throw new InvalidArgumentError(`expected name=value, got "${value}"`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
};

/** Runs a command with a client for the configured cluster, closing it however the command ends. */
async function withClient<T>(cfg: Config, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient(cfg);
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

async function waitForShutdown(stop: () => Promise<void>) {
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await stop();
}

export function buildCli(config: () => Config = loadConfig): Command {
  const program = new Command('airlock').description('Durable control plane for AI-agent actions').showHelpAfterError();

  program
    .command('dev')
    .description('Run the embedded stack: Temporal dev server (SQLite under the data dir), UI and a worker')
    .action(async () => {
      const cfg = config();
      const logger = createLogger(cfg.logLevel);
      installTemporalLogger(logger, 'warn');
      const stack = await startStack({ config: cfg, persistent: true, ui: true, logger });
      const api = await stack.airlock.serve().catch(async (err) => {
        await stack.stop();
        throw err;
      });
      console.log(`Airlock API      ${api.url} (OpenAPI at ${api.url}/openapi.json; dev tokens in README)`);
      console.log(`Temporal server  ${stack.address} (namespace ${cfg.temporal.namespace}, data in ${cfg.dataDir})`);
      console.log(`Temporal UI      ${stack.uiUrl}`);
      console.log(`Worker           task queue "${stack.taskQueue}", tools: ${stack.registry.names().join(', ')}`);
      console.log(
        'Submit a job     npx airlock jobs submit examples/ship-version-bump.json --set repo=... --set workdir=... --wait',
      );
      console.log('Ctrl-C stops the stack; jobs survive a restart.');
      await waitForShutdown(async () => {
        await api.close();
        await stack.stop();
      });
    });

  /** A worker for the configured cluster, with the API in the same process when asked (or the API alone). */
  const runWorker = async (opts: {
    identity?: string;
    api: boolean;
    worker: boolean;
    role: WorkerRole;
    queue?: string;
  }) => {
    const cfg = config();
    // Refused before connecting to anything: development credentials, or no signing key, outside development.
    checkStartCredentials(cfg);
    checkSignerConfig(cfg);
    const logger = createLogger(cfg.logLevel);
    installTemporalLogger(logger, 'warn');
    const connection = await NativeConnection.connect({ address: cfg.temporal.address });
    await withClient(cfg, async (client) => {
      const airlock = await composeAirlock({ config: cfg, client, logger });
      try {
        const worker = opts.worker
          ? await airlock.worker({ connection, identity: opts.identity, role: opts.role, taskQueue: opts.queue })
          : undefined;
        const api = opts.api ? await airlock.serve() : undefined;
        if (api) console.log(`api listening on ${api.url}`);
        if (!worker) return await waitForShutdown(async () => await api?.close());
        console.log(
          `worker ready (role ${opts.role}) on task queue "${worker.options.taskQueue}" at ${cfg.temporal.address}`,
        );
        process.once('SIGTERM', () => worker.shutdown());
        await worker.run();
        await api?.close();
      } finally {
        await airlock.close();
      }
    });
    await connection.close();
  };

  const roleOption = new Option('--role <role>', 'control: workflows, decisions, audit, approvals; execution: tools')
    .choices(workerRoles)
    .default('all');

  program
    .command('worker')
    .description('Run a worker against the configured Temporal cluster')
    .option('--identity <name>', 'worker identity shown in Temporal')
    .addOption(roleOption)
    .option('--queue <name>', 'execution role: the task queue to poll (one of AIRLOCK_TOOL_QUEUES)')
    .action((opts: { identity?: string; role: WorkerRole; queue?: string }) =>
      runWorker({ ...opts, api: false, worker: true }),
    );

  program
    .command('serve')
    .description(
      'Run the HTTP API and a worker (both roles; --no-worker: the API alone) against the configured cluster',
    )
    .option('--identity <name>', 'worker identity shown in Temporal')
    .option('--no-worker', 'serve the API only; workers run as their own processes')
    .action((opts: { identity?: string; worker: boolean }) => runWorker({ ...opts, api: true, role: 'all' }));

  const cluster = program
    .command('cluster')
    .description('A local Temporal cluster on PostgreSQL (the production setup, one node): up, down, status');

  cluster
    .command('up')
    .description('Migrate the databases, start the server (detached), create the namespace and search attributes')
    .action(async () => {
      const cfg = config();
      const o = clusterOptions(cfg.dataDir, cfg.temporal.namespace);
      const status = await clusterUp(o, (msg) => console.log(msg));
      console.log(
        `Temporal cluster ${status.address} (namespace ${status.namespace}, pid ${status.pid}, log ${status.log})`,
      );
      console.log(`Point Airlock at it: AIRLOCK_TEMPORAL_ADDRESS=${status.address}`);
    });

  cluster
    .command('init-namespace')
    .description(
      "On the configured cluster (AIRLOCK_TEMPORAL_ADDRESS): create the namespace and Airlock's search attributes; idempotent",
    )
    .option('--retention-hours <n>', 'how long closed jobs stay listed', (v) => Number(v), 72)
    .action(async (opts: { retentionHours: number }) => {
      const cfg = config();
      await ensureNamespace(cfg.temporal.address, cfg.temporal.namespace, { retentionHours: opts.retentionHours });
      console.log(`namespace ${cfg.temporal.namespace} ready at ${cfg.temporal.address}`);
    });

  cluster
    .command('down')
    .description('Stop the local cluster (its databases stay)')
    .action(async () => {
      const cfg = config();
      const stopped = await clusterDown(clusterOptions(cfg.dataDir, cfg.temporal.namespace));
      console.log(stopped ? 'temporal-server stopped' : 'temporal-server was not running');
    });

  cluster
    .command('status')
    .description('Whether the local cluster runs and answers')
    .action(async () => {
      const cfg = config();
      const s = await clusterStatus(clusterOptions(cfg.dataDir, cfg.temporal.namespace));
      console.log(
        `${s.address}: ${s.serving ? 'serving' : 'not answering'}${s.pid ? ` (pid ${s.pid})` : ' (not started here)'}, log ${s.log}`,
      );
      if (!s.serving) process.exitCode = 1;
    });

  program
    .command('tools')
    .description('List the registered tools, their risk class and how each stays idempotent')
    .action(() => {
      for (const tool of builtinRegistry().list()) {
        console.log(
          `${tool.name.padEnd(20)} ${tool.risk.padEnd(8)} ${tool.compensate ? 'undo ' : '     '} ${tool.description}`,
        );
        console.log(`${''.padEnd(35)} idempotency: ${tool.idempotency}`);
      }
    });

  const jobs = program.command('jobs').description('Submit, list, inspect and cancel jobs');

  jobs
    .command('submit <file>')
    .description('Submit a job file (JSON); {{name}} placeholders are filled from --set name=value')
    .option('--set <name=value>', 'fill a {{name}} placeholder', collect, {})
    .option('--id <jobId>', 'job id (default: job-<uuid>)')
    .option('--requester <name>', 'who asks for the job', process.env.USER ?? 'cli')
    .option('--wait', 'wait for the job to end and print its timeline')
    .action(
      async (file: string, opts: { set: Record<string, string>; id?: string; requester: string; wait?: boolean }) => {
        const cfg = config();
        // Refuse a bad job before touching the cluster.
        const plan = planJob(readJobFile(file, opts.set), builtinRegistry(), opts.requester, cfg.toolQueues);
        plan.attestationKeys = submitterAttestationKeys(cfg);
        if (!plan.attestationKeys.length)
          console.error(
            'warning: no attestation keys configured (AIRLOCK_ATTESTATION_KEY/_KEYRING): no vote will count',
          );
        await withClient(cfg, async (client) => {
          const { jobId, handle } = await startPlannedJob(client, plan, {
            taskQueue: cfg.temporal.taskQueue,
            jobId: opts.id,
            freeze: new FreezeControl(client, cfg.temporal.taskQueue),
          });
          console.log(jobId);
          if (opts.wait) {
            await handle.result().catch(() => undefined);
            const state = await handle.query(jobStateQuery);
            console.log(formatTimeline(state));
            process.exitCode = state.status === JobStatus.Succeeded ? 0 : 1;
          }
        });
      },
    );

  jobs
    .command('list')
    .description('List jobs from Temporal visibility')
    .option('--status <status>', 'running, awaiting_approval, succeeded, failed, …')
    .option('--agent <agent>', 'only this agent')
    .option('--limit <n>', 'at most n jobs', (v) => Number(v), 50)
    .option('--failed-since <duration>', 'jobs that ended without succeeding in the last 24h, 90m, 7d…', sinceDuration)
    .option('--json', 'print the jobs as JSON')
    .action(async (opts: { status?: string; agent?: string; limit: number; failedSince?: Date; json?: boolean }) => {
      const cfg = config();
      await withClient(cfg, async (client) => {
        const jobs = [];
        for await (const job of listJobs(client, {
          status: opts.status,
          agent: opts.agent,
          failedSince: opts.failedSince,
        })) {
          jobs.push(job);
          if (!opts.json)
            console.log(`${job.id}  ${job.status.padEnd(20)} ${job.agent.padEnd(16)} ${job.startedAt.toISOString()}`);
          if (jobs.length >= opts.limit) break;
        }
        if (opts.json) console.log(JSON.stringify(jobs, null, 2));
      });
    });

  jobs
    .command('show <jobId>')
    .description('Show a job: status, steps, outputs and compensations')
    .option('--json', 'print the full state as JSON')
    .action(async (jobId: string, opts: { json?: boolean }) => {
      const cfg = config();
      await withClient(cfg, async (client) => {
        const state = await client.workflow.getHandle(jobId).query(jobStateQuery);
        // Retries, repair, and for a job that did not succeed its triage: failure chain, attempts, workers, UI link.
        const view = await jobView(client, state, cfg.temporal.uiUrl);
        if (opts.json) console.log(JSON.stringify(view, null, 2));
        else console.log([formatTimeline(state), formatTriage(view)].filter(Boolean).join('\n'));
      });
    });

  jobs
    .command('cancel <jobId>')
    .description('Cancel a job; what it did is compensated')
    .action(async (jobId: string) => {
      const cfg = config();
      await withClient(cfg, async (client) => {
        await client.workflow.getHandle(jobId).cancel();
        console.log(`cancel requested for ${jobId}`);
      });
    });

  program
    .command('replay')
    .description(
      "Replay jobs' histories against this checkout's workflow code (before you deploy): per job ok, or where it diverges",
    )
    .argument('[jobIds...]', 'jobs to replay')
    .option('--query <visibility-query>', 'replay the workflows this query lists, e.g. \'AirlockStatus="failed"\'')
    .option('--save <dir>', 'also write each history as a fixture (the format of test/histories)')
    .option('--workflows <path>', "the workflow code to replay against (default: this checkout's workflows/)")
    .option('--json', 'print the outcomes as JSON')
    .action(async (jobIds: string[], opts: { query?: string; save?: string; workflows?: string; json?: boolean }) => {
      if (!jobIds.length && !opts.query) throw new CliError('name jobs to replay, or --query');
      if (jobIds.length && opts.query) throw new CliError('name jobs or --query, not both');
      const cfg = config();
      // Replaying a diverging history makes the SDK log the failed task: the report below says it in words.
      try {
        Runtime.install({
          logger: new DefaultLogger('ERROR'),
          telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
        });
      } catch {
        // Already installed in this process (tests run commands in-process): its logger stays.
      }
      const bundle = await bundleWorkflows(opts.workflows);
      await withClient(cfg, async (client) => {
        const source = opts.query ? historiesByQuery(client, opts.query) : historiesById(client, jobIds);
        const saved = async function* (): AsyncGenerator<HistoryToReplay> {
          for await (const h of source) {
            if (opts.save) saveHistory(opts.save, h);
            yield h;
          }
        };
        const outcomes: ReplayOutcome[] = [];
        const progress = process.stderr.isTTY ? (s: string) => process.stderr.write(`\r${s}`) : undefined;
        for await (const o of replayJobs(saved(), bundle)) {
          outcomes.push(o);
          const diverged = outcomes.filter((x) => !x.ok).length;
          progress?.(`replayed ${outcomes.length}, ${diverged} diverging…`);
          if (!progress && outcomes.length % 25 === 0)
            console.error(`replayed ${outcomes.length}, ${diverged} diverging`);
          if (!opts.json) {
            if (progress) process.stderr.write('\r\x1b[K');
            console.log(formatOutcome(o));
          }
        }
        if (progress) process.stderr.write('\r\x1b[K');
        const diverged = outcomes.filter((o) => !o.ok);
        if (opts.json) console.log(JSON.stringify({ ok: !diverged.length, jobs: outcomes }, null, 2));
        else console.error(`${outcomes.length} replayed, ${diverged.length} diverging`);
        if (diverged.length) process.exitCode = 1;
      });
    });

  /** An operator's request to the API, with their token; refusals become exit codes (README "Operating Airlock"). */
  const operate = async (
    path: string,
    body: Record<string, unknown>,
    opts: { tokenFile?: string; apiUrl?: string; json?: boolean },
    print: (answer: Record<string, unknown>) => string,
  ) => {
    const token = opts.tokenFile ? readFileSync(opts.tokenFile, 'utf8').trim() : process.env.AIRLOCK_TOKEN;
    if (!token) throw new CliError('a token is required: set AIRLOCK_TOKEN or pass --token-file', EXIT.forbidden);
    const base = opts.apiUrl ?? process.env.AIRLOCK_API_URL ?? 'http://127.0.0.1:8080';
    const res = await fetch(new URL(path, base), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) {
      if (opts.json) console.log(JSON.stringify(answer, null, 2));
      const code =
        res.status === 409
          ? EXIT.refused
          : res.status === 401 || res.status === 403
            ? EXIT.forbidden
            : res.status === 404
              ? EXIT.notFound
              : EXIT.error;
      throw new CliError(`refused (${String(answer.error ?? res.status)}): ${String(answer.message ?? '')}`, code);
    }
    console.log(opts.json ? JSON.stringify(answer, null, 2) : print(answer));
    return answer;
  };
  const apiOptions = (c: Command) =>
    c
      .option('--token-file <file>', 'a file holding your API token (default: AIRLOCK_TOKEN)')
      .option('--api-url <url>', 'the Airlock API (default: AIRLOCK_API_URL or http://127.0.0.1:8080)')
      .option('--json', 'print the answer as JSON');
  type ApiOpts = { tokenFile?: string; apiUrl?: string; json?: boolean };
  const at = (jobId: string, op: string) => `/v1/jobs/${encodeURIComponent(jobId)}/${op}`;

  apiOptions(
    program
      .command('retry <jobId>')
      .description(
        'Run an ended job (failed, timed_out, rejected, cancelled) again as a new job; approvals asked again',
      )
      .option('--dry-run', 'show what would run, which steps ask for approval, and whether the policy changed')
      .option('--reason <text>', 'why (shown to approvers)'),
  ).action(async (jobId: string, opts: ApiOpts & { dryRun?: boolean; reason?: string }) => {
    await operate(at(jobId, 'retry'), { dryRun: !!opts.dryRun, reason: opts.reason }, opts, (a) => {
      const plan = a as unknown as {
        retryJobId: string;
        steps: { id: string; action: string; decision: string; asksApproval: boolean }[];
        policy: { changed: boolean | string; current: string; original: string[] };
      };
      const lines = [
        `${opts.dryRun ? 'would start' : 'started'} ${plan.retryJobId} (retry of ${jobId})`,
        ...plan.steps.map(
          (s) => `  ${s.id.padEnd(16)} ${s.action.padEnd(20)} ${s.asksApproval ? 'asks for approval' : s.decision}`,
        ),
        `policy ${plan.policy.changed === true ? `CHANGED since the original (${plan.policy.original.join(', ')} → ${plan.policy.current})` : plan.policy.changed === false ? `unchanged (${plan.policy.current})` : `now ${plan.policy.current} (the original decided nothing)`}`,
      ];
      return lines.join('\n');
    });
  });

  apiOptions(
    program
      .command('reset <jobId>')
      .description(
        'Take a running or stuck job back to before a step; votes given since do not count, approvals asked again',
      )
      .requiredOption('--to-step <stepId>', 'the step to run again')
      .option('--dry-run', 'show where the job would be reset to, and what runs again')
      .option('--reason <text>', 'why (in the audit trail)'),
  ).action(async (jobId: string, opts: ApiOpts & { toStep: string; dryRun?: boolean; reason?: string }) => {
    await operate(at(jobId, 'reset'), { toStep: opts.toStep, dryRun: !!opts.dryRun, reason: opts.reason }, opts, (a) =>
      [
        `${opts.dryRun ? 'would reset' : 'reset'} ${jobId} to before step ${String(a.toStep)} (event ${String(a.eventId)})${a.newRunId ? `, new run ${String(a.newRunId)}` : ''}`,
        `  kept: ${(a.kept as string[]).join(', ') || 'nothing'}; run again: ${(a.rerun as string[]).join(', ')}; votes discarded: ${String(a.discardedVotes)}`,
      ].join('\n'),
    );
  });

  const repairLines = (a: Record<string, unknown>) =>
    [
      `${String(a.jobId)}: ${String(a.status)}`,
      ...(a.steps as { stepId: string; status: string; by?: string; note?: string; error?: { message: string } }[]).map(
        (s) =>
          `  ${s.stepId}: ${s.status}${s.by ? ` by ${s.by}` : ''}${s.note ? ` (${s.note})` : ''}${s.status === 'compensation_failed' && s.error ? `: ${s.error.message}` : ''}`,
      ),
    ].join('\n');

  apiOptions(
    program
      .command('compensate <jobId>')
      .description("Run a compensation_failed job's failed compensations again, once their cause is fixed")
      .option('--step <stepId>', "only this step's")
      .option('--dry-run', 'show what would be undone'),
  ).action(async (jobId: string, opts: ApiOpts & { step?: string; dryRun?: boolean }) => {
    const a = await operate(at(jobId, 'compensate'), { step: opts.step, dryRun: !!opts.dryRun }, opts, repairLines);
    if (a.status === 'compensation_failed') process.exitCode = EXIT.error;
  });

  apiOptions(
    program
      .command('resolve <jobId>')
      .description('Record that a step of a compensation_failed job was undone by hand')
      .requiredOption('--step <stepId>', 'the step undone by hand')
      .requiredOption('--note <text>', 'what was done'),
  ).action(async (jobId: string, opts: ApiOpts & { step: string; note: string }) => {
    await operate(at(jobId, 'resolve'), { step: opts.step, note: opts.note }, opts, repairLines);
  });

  const approvals = program.command('approvals').description('List and decide approval requests');

  approvals
    .command('list')
    .description('Open approval requests')
    .action(async () => {
      await withClient(config(), async (client) => {
        for (const r of await listPendingApprovals(client)) {
          console.log(
            `${r.id}  ${r.action}  risk=${r.risk}  rule=${r.ruleId}  ${countYes(r)}/${r.quorum} of ${r.groups.join('|')}  until ${r.deadline}`,
          );
        }
      });
    });

  approvals
    .command('show <requestId>')
    .description('One request: the exact input, its digest, the policy version and the rollback plan')
    .action(async (requestId: string) => {
      await withClient(config(), async (client) => {
        console.log(JSON.stringify(await findRequest(client, requestId), null, 2));
      });
    });

  for (const decision of ['approve', 'reject'] as const) {
    approvals
      .command(`${decision} <requestId>`)
      .description(
        `${decision === 'approve' ? 'Approve' : 'Reject'} a request as yourself, through the HTTP API with your token`,
      )
      .option('--token-file <file>', 'a file holding your API token (default: AIRLOCK_TOKEN)')
      .option('--api-url <url>', 'the Airlock API (default: AIRLOCK_API_URL or http://127.0.0.1:8080)')
      .option('--comment <text>', 'why')
      .option('--digest <sha256>', 'the input digest you reviewed (see `approvals show`); default: the one pending now')
      .action(
        async (requestId: string, opts: { tokenFile?: string; apiUrl?: string; comment?: string; digest?: string }) => {
          const token = opts.tokenFile ? readFileSync(opts.tokenFile, 'utf8').trim() : process.env.AIRLOCK_TOKEN;
          if (!token) throw new CliError('a token is required: set AIRLOCK_TOKEN or pass --token-file');
          const base = apiBase(opts.apiUrl);
          const res = await fetch(new URL(`/v1/approvals/${encodeURIComponent(requestId)}/decision`, base), {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ decision, comment: opts.comment, digest: opts.digest }),
          });
          const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
          if (!res.ok)
            throw new CliError(`refused (${String(body.error ?? res.status)}): ${String(body.message ?? '')}`);
          console.log(`${String(body.requestId)}: ${String(body.status)} (${body.approvals}/${body.quorum})`);
        },
      );
  }

  program
    .command('freeze')
    .description('Kill switch: running jobs stop before their next action; new jobs are refused')
    .option('--agent <agent>', 'only this agent (default: everything)')
    .option('--mode <mode>', "pause (wait until unfrozen) or abort (compensate); default: the policy's freeze.mode")
    .requiredOption('--reason <text>', 'shown to everyone affected')
    .option('--by <person>', 'who pulls the switch', process.env.AIRLOCK_USER ?? process.env.USER ?? 'cli')
    .action(async (opts: { agent?: string; mode?: string; reason: string; by: string }) => {
      const cfg = config();
      const mode = opts.mode ?? new PolicyStore(cfg.policyFile).current().source.freeze.mode;
      if (mode !== 'pause' && mode !== 'abort')
        throw new InvalidArgumentError(`--mode must be pause or abort, not "${mode}"`);
      await withClient(cfg, async (client) => {
        const control = new FreezeControl(client, cfg.temporal.taskQueue);
        const { signalled } = await control.freeze({
          agent: opts.agent,
          mode,
          reason: opts.reason,
          by: opts.by,
          at: new Date().toISOString(),
        });
        console.log(`frozen ${opts.agent ?? 'everything'} (${mode}); ${signalled} running job(s) told`);
      });
    });

  program
    .command('unfreeze')
    .description("Lift a freeze (the global one, or one agent's)")
    .option('--agent <agent>', "only this agent's freeze")
    .action(async (opts: { agent?: string }) => {
      const cfg = config();
      await withClient(cfg, async (client) => {
        const { signalled } = await new FreezeControl(client, cfg.temporal.taskQueue).unfreeze(opts.agent);
        console.log(`unfrozen ${opts.agent ?? 'global'}; ${signalled} running job(s) told`);
      });
    });

  program
    .command('policy')
    .description('Check a policy file: prints its version (content hash) or every problem with its line')
    .argument('[file]', 'policy file (default: AIRLOCK_POLICY_FILE)')
    .action((file?: string) => {
      const policy = loadPolicyFile(file ?? config().policyFile);
      console.log(`${policy.file}: ${policy.rules.length} rules, version ${policy.hash}`);
    });

  const audit = program.command('audit').description('Export and verify audit trails');

  audit
    .command('export <jobId>')
    .description("Write a job's audit trail as JSON Lines (events, then the signed head and public key)")
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .option('--token-file <file>', 'while a stack owns the embedded store: your API token (default: AIRLOCK_TOKEN)')
    .option('--api-url <url>', 'the running stack (default: AIRLOCK_API_URL or http://127.0.0.1:8080)')
    .action(async (jobId: string, opts: { output?: string; tokenFile?: string; apiUrl?: string }) => {
      let jsonl: string;
      try {
        const store = await openAudit(config(), 'reader');
        try {
          jsonl = await store.exportJsonl(jobId);
        } finally {
          await store.db.close();
        }
      } catch (err) {
        // The embedded store belongs to the running stack: read the trail through its API instead.
        if (!(err instanceof StoreInUseError)) throw err;
        const token = opts.tokenFile ? readFileSync(opts.tokenFile, 'utf8').trim() : process.env.AIRLOCK_TOKEN;
        if (!token)
          throw new CliError(`${err.message}\nTo export through the API, set AIRLOCK_TOKEN or pass --token-file.`);
        jsonl = await exportThroughApi(jobId, opts.apiUrl, token);
      }
      if (opts.output) writeFileSync(opts.output, jsonl);
      else process.stdout.write(jsonl);
    });

  audit
    .command('verify <file>')
    .description(
      "Verify an exported trail offline: the hash chain, the head signature by the key the head names, and every vote's channel attestation",
    )
    .option('--public-key <pem-file>', 'a public key you trust (default: the one in the export, which proves less)')
    .option('--keyring <dir|file>', 'public keys you trust: a PEM file of several, or a directory of *.pem (rotation)')
    .option(
      '--attestation-keyring <json-file>',
      "channel public keys you trust for votes ({keyId, channel, publicKeyPem}[]); default: those in the trail's job.submitted",
    )
    .action((file: string, opts: { publicKey?: string; keyring?: string; attestationKeyring?: string }) => {
      const trusted =
        opts.publicKey || opts.keyring
          ? new Keyring()
              .merge(
                opts.publicKey ? Keyring.fromPem(readFileSync(opts.publicKey, 'utf8'), opts.publicKey) : new Keyring(),
              )
              .merge(opts.keyring ? Keyring.fromPath(opts.keyring) : new Keyring())
          : undefined;
      const result = verifyExport(
        readFileSync(file, 'utf8'),
        trusted,
        opts.attestationKeyring ? readKeyring(opts.attestationKeyring) : undefined,
      );
      if (result.ok) {
        const v = result.votes;
        const votes = v
          ? `, ${v.attested}/${v.total} votes attested${v.total ? ` (keys from the ${v.keys})` : ''}`
          : '';
        console.log(
          `ok: ${result.events} events, head ${result.head}, ${result.signed ? 'signed' : 'NOT signed'}${trusted ? '' : ' (key taken from the export)'}${votes}`,
        );
      } else {
        console.error(`broken at event ${result.seq} (${result.type}, key ${result.key}): ${result.reason}`);
        process.exitCode = 1;
      }
    });

  program
    .command('hash-token <token>')
    .description('The SHA-256 to put in the people file for a bearer token')
    .action((token: string) => console.log(hashToken(token)));

  return program;
}

const countYes = (r: ApprovalRequest) =>
  new Set(r.votes.filter((v) => v.decision === 'approve').map((v) => v.approver)).size;

/** Exit codes of the operators' commands (README "Operating Airlock"). */
export const EXIT = { ok: 0, error: 1, refused: 3, forbidden: 4, notFound: 5 } as const;

/** A failure whose message says it all. */
class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
  ) {
    super(message);
  }
}

/** `24h`, `90m`, `7d`: the instant that long ago. */
function sinceDuration(value: string): Date {
  const m = /^(\d+)([mhd])$/.exec(value);
  if (!m) throw new InvalidArgumentError(`expected a duration like 30m, 24h or 7d, got "${value}"`);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
  return new Date(Date.now() - Number(m[1]) * unit);
}

const apiBase = (given?: string) => given ?? process.env.AIRLOCK_API_URL ?? 'http://127.0.0.1:8080';

/** A job's trail in the export format, from the running stack's GET /v1/jobs/:id/audit. */
async function exportThroughApi(jobId: string, apiUrl: string | undefined, token: string): Promise<string> {
  const url = new URL(`/v1/jobs/${encodeURIComponent(jobId)}/audit`, apiBase(apiUrl));
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } }).catch((err: Error) => {
    throw new CliError(`the audit store is in use and the API at ${url.origin} did not answer: ${err.message}`);
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new CliError(`refused (${String(body.error ?? res.status)}): ${String(body.message ?? '')}`);
  return exportLines(body.events as unknown[], body.head, body.publicKey as string | null);
}

export function main(argv = process.argv): Promise<unknown> {
  return buildCli()
    .parseAsync(argv)
    .catch((err: unknown) => {
      if (
        err instanceof JobValidationError ||
        err instanceof ConfigFileError ||
        err instanceof JobFrozenError ||
        err instanceof ConfigError ||
        err instanceof WorkerRoleError
      )
        console.error(err.message);
      else if (err instanceof CliError) {
        console.error(err.message);
        process.exit(err.exitCode);
      } else if (err instanceof WorkflowNotFoundError) console.error(`no such job: ${err.workflowId}`);
      else console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    });
}

if (require.main === module) void main();
