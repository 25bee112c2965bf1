/**
 * The cluster's setup is idempotent: migrating again finds both databases at the schema version this server ships,
 * and `up` again finds the server, the namespace and the search attributes in place.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { clusterUp, migrateCluster } from '../../src/temporal/cluster';
import { testClusterOptions } from './cluster';

const o = testClusterOptions();

/** The pinned server module's source, where its schema migrations are (the tool embeds the same files). */
const moduleDir = execFileSync('go', ['list', '-m', '-f', '{{.Dir}}', 'go.temporal.io/server'], {
  cwd: join(__dirname, '..', '..', 'tools', 'temporal-server'),
  encoding: 'utf8',
}).trim();

/** The newest `vX.Y` directory of a schema's migrations. */
const newest = (schema: string) =>
  readdirSync(join(moduleDir, 'schema', 'postgresql', 'v12', schema, 'versioned'))
    .map((v) => v.replace(/^v/, ''))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
    .at(-1);

async function schemaVersion(database: string): Promise<string> {
  const url = new URL(o.postgresUrl);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const r = await client.query('SELECT curr_version FROM schema_version');
    return r.rows[0].curr_version as string;
  } finally {
    await client.end();
  }
}

test('migrating again is a no-op: both databases stay at the newest schema version', async () => {
  const log: string[] = [];
  await migrateCluster(o, (m) => log.push(m));
  expect(log).toEqual(['database temporal: migrated', 'database temporal_visibility: migrated']);
  expect(await schemaVersion('temporal')).toBe(newest('temporal'));
  expect(await schemaVersion('temporal_visibility')).toBe(newest('visibility'));
});

test("up again keeps the running server and finds the namespace and Airlock's search attributes", async () => {
  const status = await clusterUp(o);
  expect(status).toMatchObject({ serving: true, namespace: o.namespace, pid: expect.any(Number) });
  const connection = await Connection.connect({ address: status.address });
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: o.namespace });
    expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(['AirlockStatus', 'AirlockAgent']));
  } finally {
    await connection.close();
  }
});
