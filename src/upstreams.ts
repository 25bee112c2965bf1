/**
 * The upstream MCP servers file (AIRLOCK_MCP_UPSTREAMS): which servers Airlock connects to and re-exposes as governed
 * tools `<server>.<tool>` (activities/mcp/upstream.ts). Read and connected by the composition root.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { connectUpstream, upstreamName, upstreamSchema, type Upstream } from '../activities/mcp/upstream';
import { ConfigFileError, parseYamlConfig } from './yaml-config';

export const upstreamsFileSchema = z.strictObject({ servers: z.record(upstreamName, upstreamSchema).default({}) });

/** Connects to every server of the file; on a failure, closes those already connected and throws naming the server. */
export async function connectUpstreams(
  file: string,
  secret: (name: string) => string | undefined,
): Promise<Upstream[]> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigFileError(file, [{ path: '', message: (err as Error).message }], 'MCP upstreams file');
  }
  const { data } = parseYamlConfig(
    text,
    upstreamsFileSchema,
    (problems) => new ConfigFileError(file, problems, 'MCP upstreams file'),
  );
  const connected: Upstream[] = [];
  for (const [name, config] of Object.entries(data.servers)) {
    try {
      connected.push(await connectUpstream(name, config, secret));
    } catch (err) {
      await Promise.allSettled(connected.map((u) => u.close()));
      throw new Error(`MCP upstream ${name} (${file}): ${(err as Error).message}`);
    }
  }
  return connected;
}
