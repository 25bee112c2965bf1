/**
 * Airlock's search attributes on a cluster: which are missing, and registering them at start (the operator API), so
 * a server without them never turns every submission into a 500. Where they cannot be registered (no permission),
 * start-up refuses, naming them and the command that creates them.
 */
import type { Client } from '@temporalio/client';
// Not re-exported by the package index; the SDK's own encoder keeps us off @temporalio/proto.
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { searchAttributeKeys } from '../core/search-attributes';

/** Airlock's search attributes are all keywords. */
const KEYWORD = encodeSearchAttributeIndexedValueType('KEYWORD')!;

/** gRPC status UNIMPLEMENTED: the time-skipping test server has no operator service (and accepts any attribute). */
const UNIMPLEMENTED = 12;

/** The names of Airlock's search attributes the namespace does not have; none where the server has no operator API. */
export async function missingSearchAttributes(client: Client, namespace: string): Promise<string[]> {
  let customAttributes: Record<string, unknown> | null | undefined;
  try {
    ({ customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace }));
  } catch (err) {
    if ((err as { code?: number }).code === UNIMPLEMENTED) return [];
    throw err;
  }
  return searchAttributeKeys.map((k) => k.name).filter((name) => !(customAttributes && name in customAttributes));
}

/** Registers the missing search attributes; throws, naming them, when the cluster refuses. Returns those added. */
export async function ensureSearchAttributes(client: Client, namespace: string): Promise<string[]> {
  const missing = await missingSearchAttributes(client, namespace);
  if (!missing.length) return [];
  try {
    await client.connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((name) => [name, KEYWORD])),
    });
  } catch (err) {
    const create = missing.map((n) => `--name ${n} --type Keyword`).join(' ');
    throw new Error(
      `namespace ${namespace} lacks Airlock's search attributes ${missing.join(', ')} and they could not be ` +
        `registered (${(err as Error).message}); create them: temporal operator search-attribute create ${create}`,
    );
  }
  return missing;
}
