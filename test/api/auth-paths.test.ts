/**
 * Authentication decides by the route Fastify matched, never by the raw URL: every spelling of a path (percent-encoded,
 * doubled slashes, other case, trailing slash, `;` parameters, `..`) either answers 401 to a stranger or reaches its
 * handler authenticated. A gRPC interceptor on the API's Temporal connection counts every call, so "no handler ran"
 * is measured, not inferred from the status.
 */
import { request } from 'node:http';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Client, Connection } from '@temporalio/client';
import { Directory, hashToken } from '../../src/people';
import { testAirlock, useTemporalServer } from '../helpers/temporal';

const temporal = useTemporalServer();
const rpcs: string[] = [];
const counting: Interceptor = (options, next) => {
  rpcs.push(options.method_definition.path);
  return new InterceptingCall(next(options));
};
const directory = new Directory({
  people: { alice: { groups: ['sre'], tokenSha256: hashToken('alice-token') } },
  callers: { ci: { tokenSha256: hashToken('ci-token'), agents: ['*'] } },
});
let connection: Connection;
const apps: { base: string; close: () => Promise<unknown> }[] = [];

async function startApi(config: Record<string, string> = {}) {
  const client = new Client({ connection });
  const app = await (await testAirlock(temporal.env, { client, directory, config })).api();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  apps.push({ base, close: () => app.close() });
  return base;
}

let base: string;
beforeAll(async () => {
  connection = await Connection.connect({
    address: temporal.env.connection.options.address,
    interceptors: [counting],
  });
  base = await startApi({ AIRLOCK_RATE_LIMIT_PER_MINUTE: '100000' });
});
afterAll(async () => {
  for (const a of apps) await a.close();
  await connection?.close();
});

/** A request with the path exactly as written (fetch and URL would normalise `..` and case away). */
function send(
  url: string,
  method: string,
  path: string,
  token?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    if (method === 'POST') headers['content-type'] = 'application/json';
    const req = request({ host: hostname, port, path, method, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : {} }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? '{}' : undefined);
  });
}

const JOBS_SPELLINGS = [
  '/v1/jobs',
  '/%761/jobs',
  '/%76%31/jobs',
  '/v1/%6Aobs',
  '/%2Fv1/jobs',
  '//v1/jobs',
  '/v1//jobs',
  '///v1///jobs',
  '/V1/jobs',
  '/v1/JOBS',
  '/v1/jobs/',
  '/v1/jobs;x=1',
  '/v1;x=1/jobs',
  '/v1/jobs;',
  '/x/../v1/jobs',
  '/v1/x/../jobs',
  '/v1/./jobs',
  '/v1/%2e%2e/v1/jobs',
  '/v1/jobs/%2e%2e',
  '/v1/jobs/..',
  '/v1/jobs/../approvals',
  '/v1%2Fjobs',
  '/v1/jobs%2F',
  '/v1/jobs%3Fstatus=running',
  '/v1/jobs?status=running',
];
const OTHER_PATHS = [
  '/v1/approvals',
  '/%76%31/approvals',
  '/v1/approvals/x:y/decision',
  '/v1/jobs/x/audit',
  '/v1/jobs/x/cancel',
  '/v1/freeze',
  '/v1/nothing',
  '/nothing',
  '/HEALTHZ',
  '/healthz/',
  '/metrics;x',
  '/slack/events',
];

test('without a valid token every spelling of every non-public path is 401, and Temporal is never called', async () => {
  const before = rpcs.length;
  const answers: string[] = [];
  for (const path of [...JOBS_SPELLINGS, ...OTHER_PATHS])
    for (const method of ['GET', 'POST', 'DELETE'])
      for (const token of [undefined, 'not-a-token']) {
        const res = await send(base, method, path, token);
        answers.push(`${method} ${path} ${token ?? '-'} → ${res.status} ${res.body.error}`);
      }
  // One status for all of them: a stranger cannot tell a real route from a made-up one, nor reach any.
  expect(answers.filter((a) => !a.endsWith('→ 401 unauthorized'))).toEqual([]);
  expect(rpcs.slice(before)).toEqual([]);
});

test('with a token, each spelling is either 404 or reaches the handler as that principal', async () => {
  const reached: string[] = [];
  for (const path of JOBS_SPELLINGS) {
    const before = rpcs.length;
    const res = await send(base, 'GET', path, 'alice-token');
    if (res.body.message === 'no such route') {
      // No route matched: 404, the body names nothing, and nothing was asked of Temporal.
      expect(res).toEqual({ status: 404, body: { error: 'not_found', message: 'no such route' } });
      expect(rpcs.slice(before)).toEqual([]);
    } else {
      // A route matched and alice passed authentication: its handler answered (200, or 404 for a job `..` that does
      // not exist), or its validation refused (400).
      expect(`${path} → ${res.status}`).toMatch(/→ (200|400|404)$/);
      if (res.status === 200) reached.push(path);
    }
  }
  // The encoded forms Fastify decodes are the same route, and were authenticated (the list handler ran for alice).
  expect(reached).toEqual(
    expect.arrayContaining(['/v1/jobs', '/%761/jobs', '/%76%31/jobs', '/v1/%6Aobs', '/v1/jobs?status=running']),
  );
});

test('the public routes stay public, whatever the token', async () => {
  expect((await send(base, 'GET', '/openapi.json')).status).toBe(200);
  expect((await send(base, 'GET', '/healthz')).status).toBe(200);
  expect((await send(base, 'GET', '/healthz', 'not-a-token')).status).toBe(200);
});

test("a principal's requests count against one limit, whatever the path's spelling, unmatched ones included", async () => {
  const limited = await startApi({ AIRLOCK_RATE_LIMIT_PER_MINUTE: '4' });
  const statuses: number[] = [];
  for (const path of ['/v1/nothing', '/%76%31/jobs', '/V1/jobs', '/v1/%6Aobs?limit=1', '/v1/x'])
    statuses.push((await send(limited, 'GET', path, 'alice-token')).status);
  expect(statuses).toEqual([404, 200, 404, 200, 429]);
  // Another principal has its own budget.
  expect((await send(limited, 'GET', '/v1/jobs', 'ci-token')).status).toBe(200);
});
