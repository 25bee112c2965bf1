/**
 * Freeze (kill switch), global or per agent. The state lives in the `airlock-freeze` workflow; freezing also signals
 * every running job in scope, so each stops before its next action: `pause` waits until unfrozen, `abort` undoes
 * what the job did. The policy activity re-reads the state before every action, which catches jobs that visibility
 * had not listed yet.
 */
import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import type { FreezeReader } from './core/contracts';
import { jobsQuery } from './core/jobs-query';
import { clearFreezeUpdate, FREEZE_WORKFLOW_ID, freezeControlWorkflow, setFreezeUpdate } from '../workflows/freeze';
import { freezeSignal, unfreezeSignal } from '../workflows/messages';
import type { FreezeEntry } from './core/decision';

export class JobFrozenError extends Error {
  readonly code = 'frozen';
  constructor(readonly entry: FreezeEntry) {
    super(`${entry.agent ? `agent ${entry.agent} is` : 'Airlock is'} frozen by ${entry.by}: ${entry.reason}`);
    this.name = 'JobFrozenError';
  }
}

/** The freeze that applies to an agent (its own, else the global one). */
export function applicableFreeze(entries: FreezeEntry[], agent: string): FreezeEntry | undefined {
  return entries.find((e) => e.agent === agent) ?? entries.find((e) => e.agent === undefined);
}

export class FreezeControl implements FreezeReader {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    /** One per deployment (namespace + task queue); tests give each worker its own. */
    private readonly workflowId: string = FREEZE_WORKFLOW_ID,
  ) {}

  private handle() {
    return this.client.workflow.getHandle<typeof freezeControlWorkflow>(this.workflowId);
  }

  private cached?: { at: number; entries: Promise<FreezeEntry[]> };

  /**
   * Freezes in force, read from the control workflow's memo. The answer is reused for `maxAgeMs` (it is read before
   * every action); freezes made through this instance apply at once, others within that time — running jobs are
   * also signalled directly.
   */
  async list(maxAgeMs = 1000): Promise<FreezeEntry[]> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > maxAgeMs) {
      this.cached = { at: now, entries: this.read() };
      this.cached.entries.catch(() => (this.cached = undefined));
    }
    return this.cached.entries;
  }

  private async read(): Promise<FreezeEntry[]> {
    try {
      const d = await this.handle().describe();
      if (d.status.name !== 'RUNNING') return [];
      return (d.memo?.frozen as FreezeEntry[] | undefined) ?? [];
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return [];
      throw err;
    }
  }

  async lookup(agent: string): Promise<FreezeEntry | undefined> {
    return applicableFreeze(await this.list(), agent);
  }

  async freeze(entry: FreezeEntry): Promise<{ signalled: number }> {
    await this.client.workflow.executeUpdateWithStart(setFreezeUpdate, {
      args: [entry],
      startWorkflowOperation: new WithStartWorkflowOperation(freezeControlWorkflow, {
        workflowId: this.workflowId,
        taskQueue: this.taskQueue,
        args: [[]],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      }),
    });
    this.cached = undefined;
    return { signalled: await this.broadcast(entry.agent, (h) => h.signal(freezeSignal, entry)) };
  }

  async unfreeze(agent?: string): Promise<{ signalled: number }> {
    try {
      await this.handle().executeUpdate(clearFreezeUpdate, { args: [{ agent }] });
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    this.cached = undefined;
    return { signalled: await this.broadcast(agent, (h) => h.signal(unfreezeSignal, { agent })) };
  }

  private async broadcast(
    agent: string | undefined,
    send: (h: ReturnType<Client['workflow']['getHandle']>) => Promise<void>,
  ) {
    let n = 0;
    for await (const wf of this.client.workflow.list({ query: jobsQuery({ agent, running: true }) })) {
      try {
        await send(this.client.workflow.getHandle(wf.workflowId));
        n++;
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err; // ended meanwhile
      }
    }
    return n;
  }
}
