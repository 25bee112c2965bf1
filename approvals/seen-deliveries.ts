/**
 * Deliveries already received, for replay protection shared by every API instance and kept across restarts: one row
 * per (source, id) in the database, kept for a window. Inserting decides first versus repeat atomically, so two
 * instances receiving the same delivery at once accept it once. Generic: Slack keys by request signature, GitHub
 * can key by its X-GitHub-Delivery id.
 */
import type { Database } from '../src/core/db';

const MIGRATION = `
CREATE TABLE IF NOT EXISTS seen_deliveries (
  source text NOT NULL,
  id text NOT NULL,
  seen_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (source, id)
);
CREATE INDEX IF NOT EXISTS seen_deliveries_expires_at ON seen_deliveries (expires_at);
`;

/** How often (seconds) a process deletes expired rows; expired rows are also overwritten when seen again. */
const PURGE_EVERY_SECONDS = 60;

export class SeenDeliveries {
  private lastPurge = 0;

  private constructor(private readonly db: Database) {}

  /** Opens the store on the database, creating its table when missing. */
  static async open(db: Database): Promise<SeenDeliveries> {
    await db.exec(MIGRATION);
    return new SeenDeliveries(db);
  }

  /**
   * True the first time (source, id) is seen within `keepSeconds`; false for a repeat, on any instance sharing the
   * database. An entry older than its window counts as new again (its sender's own checks refuse it by then).
   */
  async firstTime(source: string, id: string, nowSeconds: number, keepSeconds: number): Promise<boolean> {
    if (nowSeconds - this.lastPurge >= PURGE_EVERY_SECONDS) {
      this.lastPurge = nowSeconds;
      await this.db.query(`DELETE FROM seen_deliveries WHERE expires_at < to_timestamp($1)`, [nowSeconds]);
    }
    const { rows } = await this.db.query(
      `INSERT INTO seen_deliveries (source, id, seen_at, expires_at) VALUES ($1, $2, to_timestamp($3), to_timestamp($4))
       ON CONFLICT (source, id) DO UPDATE SET seen_at = EXCLUDED.seen_at, expires_at = EXCLUDED.expires_at
         WHERE seen_deliveries.expires_at < EXCLUDED.seen_at
       RETURNING id`,
      [source, id, nowSeconds, nowSeconds + keepSeconds],
    );
    return rows.length === 1;
  }
}
