/** The per-principal rate limit: a caller over it gets 429 with a retry hint; others are not slowed by it. */
import { Directory, hashToken } from '../../src/people';
import { testAirlock, useTemporalServer } from '../helpers/temporal';

const temporal = useTemporalServer();
const LIMIT = 3;
let base: string;
let close: () => Promise<unknown>;

beforeAll(async () => {
  const airlock = await testAirlock(temporal.env, {
    config: { AIRLOCK_RATE_LIMIT_PER_MINUTE: String(LIMIT), AIRLOCK_OPERATOR_GROUPS: '' },
    directory: new Directory({
      people: {},
      callers: {
        busy: { tokenSha256: hashToken('busy-token'), agents: ['*'] },
        calm: { tokenSha256: hashToken('calm-token'), agents: ['*'] },
      },
    }),
  });
  const app = await airlock.api();
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  close = () => app.close();
});
afterAll(() => close?.());

// An invalid job: answered (400) without touching Temporal, so only the limiter decides what comes back.
const submit = (token: string) =>
  fetch(`${base}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'k' },
    body: JSON.stringify({ agent: 'a', title: 't', steps: [] }),
  });

test('a caller over its per-minute limit gets 429 naming the limit; another caller is unaffected', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < LIMIT; i++) statuses.push((await submit('busy-token')).status);
  expect(statuses).toEqual(Array(LIMIT).fill(400));

  const over = await submit('busy-token');
  expect(over.status).toBe(429);
  expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(await over.json()).toMatchObject({
    error: 'rate_limited',
    message: expect.stringContaining(`at most ${LIMIT}`),
  });

  expect((await submit('calm-token')).status).toBe(400);
  // Unauthenticated requests are refused before the limiter counts them against anyone.
  expect((await submit('no-such-token')).status).toBe(401);
});
