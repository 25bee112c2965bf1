/**
 * A Temporal client for the configured cluster (CLI commands, the API). It talks over the SDK's native (Rust)
 * connection: measured in bench figure 4, the pure-JS gRPC client cost the API about a third of its submissions/s.
 */
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from './config';

export async function connectClient(config: Config): Promise<Client> {
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  return new Client({ connection, namespace: config.temporal.namespace });
}
