/**
 * Where each approval round is shown on GitHub, kept in the database: the pull request, the comment and the check
 * run, and the digest shown. The channel (on workers) writes it, the webhook handler (on API servers) reads it to
 * map a review, comment or click on a pull request to the request it decides.
 */
import type { Database } from '../../src/core/db';

const MIGRATION = `CREATE TABLE IF NOT EXISTS github_approval_rounds (
  round text PRIMARY KEY,
  request_id text NOT NULL,
  repo text NOT NULL,
  pr integer NOT NULL,
  digest text NOT NULL,
  status text NOT NULL,
  comment_id bigint,
  check_run_id bigint,
  head_sha text
);
CREATE INDEX IF NOT EXISTS github_approval_rounds_pr ON github_approval_rounds (repo, pr, status);`;

export interface Round {
  round: string;
  requestId: string;
  repo: string;
  pr: number;
  digest: string;
  status: string;
  commentId?: number;
  checkRunId?: number;
  headSha?: string;
}

type Row = {
  round: string;
  request_id: string;
  repo: string;
  pr: number;
  digest: string;
  status: string;
  comment_id: string | number | null;
  check_run_id: string | number | null;
  head_sha: string | null;
};

const fromRow = (r: Row): Round => ({
  round: r.round,
  requestId: r.request_id,
  repo: r.repo,
  pr: Number(r.pr),
  digest: r.digest,
  status: r.status,
  ...(r.comment_id !== null ? { commentId: Number(r.comment_id) } : {}),
  ...(r.check_run_id !== null ? { checkRunId: Number(r.check_run_id) } : {}),
  ...(r.head_sha !== null ? { headSha: r.head_sha } : {}),
});

export class GithubRounds {
  private constructor(private readonly db: Database) {}

  static async open(db: Database): Promise<GithubRounds> {
    await db.exec(MIGRATION);
    return new GithubRounds(db);
  }

  async get(round: string): Promise<Round | undefined> {
    const { rows } = await this.db.query<Row>(`SELECT * FROM github_approval_rounds WHERE round = $1`, [round]);
    return rows[0] && fromRow(rows[0]);
  }

  /** Open rounds shown on a pull request (repo compared case-insensitively, as GitHub does). */
  async openOn(repo: string, pr: number): Promise<Round[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM github_approval_rounds WHERE lower(repo) = lower($1) AND pr = $2 AND status = 'pending'`,
      [repo, pr],
    );
    return rows.map(fromRow);
  }

  async save(r: Round): Promise<void> {
    await this.db.query(
      `INSERT INTO github_approval_rounds (round, request_id, repo, pr, digest, status, comment_id, check_run_id, head_sha)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (round) DO UPDATE SET status = EXCLUDED.status,
         comment_id = COALESCE(EXCLUDED.comment_id, github_approval_rounds.comment_id),
         check_run_id = COALESCE(EXCLUDED.check_run_id, github_approval_rounds.check_run_id),
         head_sha = COALESCE(EXCLUDED.head_sha, github_approval_rounds.head_sha)`,
      [
        r.round,
        r.requestId,
        r.repo,
        r.pr,
        r.digest,
        r.status,
        r.commentId ?? null,
        r.checkRunId ?? null,
        r.headSha ?? null,
      ],
    );
  }
}
