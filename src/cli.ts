/**
 * The `airlock` command line. Each command is a thin shell over the same functions the API and tests use.
 */
import { Command, InvalidArgumentError } from 'commander';
import { NativeConnection } from '@temporalio/worker';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { builtinRegistry } from '../activities';
import { connectClient } from './client';
import { ConfigError, loadConfig, type Config } from './config';
import { checkStartCredentials, composeAirlock } from './compose';
import { startStack } from './dev/stack';
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
import { startPlannedJob } from './jobs/submit';
import { formatTimeline } from './jobs/timeline';
import { createLogger, installTemporalLogger } from './logger';
import { jobStateQuery } from '../workflows/messages';
import { JobStatus } from './core/job';

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

  /** A worker for the configured cluster, with the API in the same process when asked. */
  const runWorker = async (opts: { identity?: string; api: boolean }) => {
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
        const worker = await airlock.worker({ connection, identity: opts.identity });
        const api = opts.api ? await airlock.serve() : undefined;
        if (api) console.log(`api listening on ${api.url}`);
        console.log(`worker ready on task queue "${cfg.temporal.taskQueue}" at ${cfg.temporal.address}`);
        process.once('SIGTERM', () => worker.shutdown());
        await worker.run();
        await api?.close();
      } finally {
        await airlock.close();
      }
    });
    await connection.close();
  };

  program
    .command('worker')
    .description('Run a worker against the configured Temporal cluster')
    .option('--identity <name>', 'worker identity shown in Temporal')
    .action((opts: { identity?: string }) => runWorker({ ...opts, api: false }));

  program
    .command('serve')
    .description('Run the HTTP API and a worker against the configured Temporal cluster')
    .option('--identity <name>', 'worker identity shown in Temporal')
    .action((opts: { identity?: string }) => runWorker({ ...opts, api: true }));

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
        const plan = planJob(readJobFile(file, opts.set), builtinRegistry(), opts.requester);
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
    .action(async (opts: { status?: string; agent?: string; limit: number }) => {
      const cfg = config();
      await withClient(cfg, async (client) => {
        let n = 0;
        for await (const job of listJobs(client, opts)) {
          console.log(`${job.id}  ${job.status.padEnd(20)} ${job.agent.padEnd(16)} ${job.startedAt.toISOString()}`);
          if (++n >= opts.limit) break;
        }
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
        console.log(opts.json ? JSON.stringify(state, null, 2) : formatTimeline(state));
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

/** A failure whose message says it all. */
class CliError extends Error {}

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
        err instanceof ConfigError
      )
        console.error(err.message);
      else if (err instanceof CliError) console.error(err.message);
      else if (err instanceof WorkflowNotFoundError) console.error(`no such job: ${err.workflowId}`);
      else console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    });
}

if (require.main === module) void main();
