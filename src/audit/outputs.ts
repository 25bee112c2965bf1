/**
 * Step outputs too large for workflow history (src/core/outputs.ts), whole, in the audit database's `step_outputs`
 * (created with the audit tables). Kept as JSON text: exactly what the tool returned, NUL escapes included.
 */
import type { Database } from '../core/db';
import type { StoredOutputs } from '../core/outputs';

export class StepOutputTable implements StoredOutputs {
  constructor(private readonly db: Database) {}

  async put(jobId: string, stepId: string, output: unknown, outputDigest: string): Promise<void> {
    const json = JSON.stringify(output) ?? 'null';
    // A retried step that acted again replaces what its earlier attempt stored.
    await this.db.query(
      `INSERT INTO step_outputs (job_id, step_id, output, output_digest, bytes) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (job_id, step_id) DO UPDATE
         SET output = EXCLUDED.output, output_digest = EXCLUDED.output_digest, bytes = EXCLUDED.bytes, stored_at = now()`,
      [jobId, stepId, json, outputDigest, Buffer.byteLength(json)],
    );
  }

  async get(jobId: string, stepId: string) {
    const row = (
      await this.db.query<{ output: string; output_digest: string; bytes: number }>(
        `SELECT output, output_digest, bytes FROM step_outputs WHERE job_id = $1 AND step_id = $2`,
        [jobId, stepId],
      )
    ).rows[0];
    return row && { output: JSON.parse(row.output) as unknown, outputDigest: row.output_digest, bytes: row.bytes };
  }
}
